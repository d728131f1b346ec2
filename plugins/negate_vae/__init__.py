"""Autoencoder reconstruction error (diffusers AutoencoderKL / AutoencoderDC) as features."""
