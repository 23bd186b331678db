"""owlcap.data"""
