"""owlcap.units"""
