"""Dataset manifests: OpenFake, Defactify, CIFAKE, WikiArt and the local dev sets."""
