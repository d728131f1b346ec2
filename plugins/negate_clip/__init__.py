"""open_clip image embeddings (CLIP ViT-L/14, ViT-B/32, MobileCLIP) as feature extractors."""
