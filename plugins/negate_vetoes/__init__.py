"""Vetoes: provenance metadata evidence and the illustration veto."""
