# Ablation: the Naive generator (per sample, the logits of the student with the lowest CE).
_base_ = './r50_mbv2_imagenet.py'
model = dict(soft_target=dict(_delete_=True, type='NaiveSoftTarget'))
