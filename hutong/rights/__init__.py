"""Rights: the catalogue of works (licences and rights holders build on it)."""

from hutong.rights.catalogue import AddFailure, Catalogue, WorkRecord

__all__ = ["AddFailure", "Catalogue", "WorkRecord"]
