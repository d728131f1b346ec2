"""Published AI-image detectors with their authors' weights; importing it never imports torch."""
