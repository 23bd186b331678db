"""owlcap.models"""
