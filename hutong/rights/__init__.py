"""Rights: the catalogue of works, the creators who use them, and the licences that let them."""

from hutong.rights.catalogue import AddFailure, Catalogue, WorkRecord
from hutong.rights.creators import CreatorRecord, Creators
from hutong.rights.licences import LicenceRecord, Licences
from hutong.rights.terms import LicenceTerms
from hutong.rights.title_lists import TitleListRecord, TitleLists

__all__ = [
    "AddFailure",
    "Catalogue",
    "CreatorRecord",
    "Creators",
    "LicenceRecord",
    "LicenceTerms",
    "Licences",
    "TitleListRecord",
    "TitleLists",
    "WorkRecord",
]
