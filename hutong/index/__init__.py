"""Index: nearest-neighbour search over fingerprint vectors, behind one small interface."""

from hutong.index.base import IndexBackend, NumpyFlatIndex
from hutong.index.faiss_backends import FaissFlatIndex, FaissIVFPQIndex

BACKENDS: dict[str, type[IndexBackend]] = {
    b.name: b for b in (NumpyFlatIndex, FaissFlatIndex, FaissIVFPQIndex)
}


def backend(name: str) -> type[IndexBackend]:
    try:
        return BACKENDS[name]
    except KeyError:
        from hutong.errors import HutongError

        raise HutongError(
            f"unknown index backend {name!r}; choose one of {', '.join(sorted(BACKENDS))}"
        ) from None


__all__ = ["BACKENDS", "FaissFlatIndex", "FaissIVFPQIndex", "IndexBackend", "NumpyFlatIndex", "backend"]
