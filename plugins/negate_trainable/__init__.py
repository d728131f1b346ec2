"""Trainable detectors: end-to-end networks the harness trains and scores like any other detector.

- ``saturate_cnn``: a compact CNN on the colour-inverted, saturation-boosted view (or plain RGB, or both);
- ``supcon``: a backbone fine-tuned with supervised contrastive loss, then a logistic head on its embedding.

Both carve a validation split from the training samples for early stopping, calibration and thresholds,
train seeded mini-batches with augmentation, resume from checkpoints and save through the detector card.
"""
