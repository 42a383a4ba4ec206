"""Data: volumes to 2D slice samples, normalisation, labels, augmentation, phantom."""
