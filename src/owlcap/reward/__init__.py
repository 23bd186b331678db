"""owlcap.reward"""
