"""owlcap.eval"""
