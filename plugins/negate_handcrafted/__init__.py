"""Handcrafted signal features: spectral, residual, LBP, wavelet, Gabor, texture, edges, colour,
invert-saturate, JPEG ghost and patch families, and their union ``handcrafted``.
"""
