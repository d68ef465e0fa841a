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


def make(name: str, dim: int, settings=None) -> IndexBackend:
    """A new, empty index of backend ``name``; ``settings`` (hutong.config.Settings) for a backend that
    needs them (Milvus' address), else it reads the environment."""
    cls = backend(name)
    return cls(dim, settings) if settings is not None and cls.takes_settings else cls(dim)


def load(name: str, path, dim: int, settings=None) -> IndexBackend:
    """The index of backend ``name`` saved at ``path`` (see :func:`make` for ``settings``)."""
    cls = backend(name)
    return (
        cls.load(path, dim, settings) if settings is not None and cls.takes_settings else cls.load(path, dim)
    )


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


__all__ = [
    "BACKENDS",
    "FaissFlatIndex",
    "FaissIVFPQIndex",
    "IndexBackend",
    "NumpyFlatIndex",
    "backend",
    "load",
    "make",
]
