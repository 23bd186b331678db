"""owlcap.train"""
