"""Index: nearest-neighbour search over fingerprint vectors, behind one small interface."""

from importlib.util import find_spec

from hutong.index.base import IndexBackend, NumpyFlatIndex
from hutong.index.faiss_backends import FaissFlatIndex, FaissIVFPQIndex

BACKENDS: dict[str, type[IndexBackend]] = {
    b.name: b for b in (NumpyFlatIndex, FaissFlatIndex, FaissIVFPQIndex)
}

# Milvus only where pymilvus is installed (the optional extra `milvus`); its module imports pymilvus lazily
if find_spec("pymilvus") is not None:
    from hutong.index.milvus_backend import MilvusIndex

    BACKENDS[MilvusIndex.name] = MilvusIndex


def backend(name: str) -> type[IndexBackend]:
    try:
        return BACKENDS[name]
    except KeyError:
        from hutong.errors import HutongError

        if name == "milvus":
            raise HutongError("index backend 'milvus' needs pymilvus: pip install 'hutong[milvus]'") from None
        raise HutongError(
            f"unknown index backend {name!r}; choose one of {', '.join(sorted(BACKENDS))}"
        ) from None


__all__ = ["BACKENDS", "FaissFlatIndex", "FaissIVFPQIndex", "IndexBackend", "NumpyFlatIndex", "backend"]
