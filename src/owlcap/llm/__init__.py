"""owlcap.llm"""
