"""owlcap.video"""
