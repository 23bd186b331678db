"""owlcap.data: HMD records, Motion-Detail Fusion, Fine-Grained Examination, the pipeline runner."""
