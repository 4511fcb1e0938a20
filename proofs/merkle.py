"""RFC 9162 §2.1 Merkle trees over SHA-256: roots, inclusion proofs and consistency proofs.

Hashing (RFC 9162 §2.1.1, identical to RFC 6962 §2.1):

- ``MTH({}) = SHA-256("")``
- leaf: ``SHA-256(0x00 || d)``
- node: ``SHA-256(0x01 || left || right)``; ``MTH(D[n])`` splits at the largest power of two below n.

The tree is computed bottom-up, level by level: pair adjacent nodes and promote an unpaired last
node unchanged to the next level. This yields exactly the RFC root, and level ``h`` then holds
``MTH(D[j·2^h : min((j+1)·2^h, n)])`` at position ``j``. Consequently a chunk of ``2^k`` leaves that
starts at a multiple of ``2^k`` is a complete subtree of the RFC tree (the last chunk may be
partial), which is what :func:`chunk_roots` and :func:`fold_chunk_roots` use to split tree building
across workers.

Verification functions return ``None`` and raise :class:`~proofs.errors.VerificationError` with
check ``"merkle.inclusion"`` or ``"merkle.consistency"``. Proof generation refuses impossible
requests (index out of range, ...) with :class:`~proofs.errors.ProvingError`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from proofs.errors import EncodingError, ProvingError, VerificationError

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT = _sha256(b"").digest()
"""``MTH({})``, the root of the empty tree (RFC 9162 §2.1.1)."""

CHECK_INCLUSION = "merkle.inclusion"
CHECK_CONSISTENCY = "merkle.consistency"


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 §2.1.1 leaf hash ``SHA-256(0x00 || data)``."""
    return _sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 §2.1.1 interior node hash ``SHA-256(0x01 || left || right)``.

    Raises :class:`EncodingError` unless both children are 32-byte hashes.
    """
    if len(left) != HASH_SIZE or len(right) != HASH_SIZE:
        raise EncodingError(
            f"node children must be {HASH_SIZE}-byte hashes, got {len(left)} and {len(right)}"
        )
    return _sha256(_NODE_PREFIX + left + right).digest()


def _join_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """Concatenate leaf hashes into one level blob, rejecting any that is not 32 bytes.

    Lists and tuples are joined in one step; any other iterable is consumed incrementally, so a
    generator of a million hashes never exists as a list of a million objects.
    """
    if isinstance(leaf_hashes, list | tuple):
        for i, h in enumerate(leaf_hashes):
            _require_hash_item(i, h)
        return b"".join(leaf_hashes)
    blob = bytearray()
    for i, h in enumerate(leaf_hashes):
        _require_hash_item(i, h)
        blob += h
    return bytes(blob)


def _require_hash_item(i: int, h: object) -> None:
    if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
        size = len(h) if isinstance(h, bytes | bytearray) else type(h).__name__
        raise EncodingError(f"leaf_hashes[{i}]: expected {HASH_SIZE}-byte hash, got {size}")


def _next_level(level: bytes) -> bytes:
    """Hash adjacent pairs of a level blob; an unpaired last node is promoted unchanged."""
    n = len(level) // HASH_SIZE
    pairs = n // 2
    sha = _sha256
    prefix = _NODE_PREFIX
    step = 2 * HASH_SIZE
    # Two adjacent children are contiguous in the blob: one slice per node hash.
    nxt = b"".join([sha(prefix + level[o : o + step]).digest() for o in range(0, pairs * step, step)])
    if n % 2:
        nxt += level[-HASH_SIZE:]
    return nxt


def _root_of_blob(level: bytes) -> bytes:
    if not level:
        return EMPTY_ROOT
    while len(level) > HASH_SIZE:
        level = _next_level(level)
    return level


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return ``MTH`` (RFC 9162 §2.1.1) of the given leaf hashes; ``SHA-256("")`` for none.

    Leaf hashes must already be :func:`leaf_hash` outputs (32 bytes each), otherwise
    :class:`EncodingError` is raised naming the offending index.
    """
    return _root_of_blob(_join_leaf_hashes(leaf_hashes))


def chunk_roots(leaf_hashes: Sequence[bytes], k: int) -> list[bytes]:
    """Return the root of every consecutive chunk of ``2^k`` leaves (the last one may be partial).

    Each full chunk root is an interior node of the RFC 9162 tree; the partial last chunk's root is
    the node the bottom-up construction promotes to level ``k``. :func:`fold_chunk_roots` turns
    these back into the tree root, so workers can hash chunks independently.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    size = 1 << k
    return [root(leaf_hashes[i : i + size]) for i in range(0, len(leaf_hashes), size)]


def fold_chunk_roots(roots: Sequence[bytes], n_leaves: int, k: int) -> bytes:
    """Fold chunk roots from :func:`chunk_roots` (chunks of ``2^k`` leaves) into the RFC 9162 root.

    ``n_leaves`` is the total leaf count; it fixes how many chunks there must be
    (``ceil(n_leaves / 2^k)``). Raises :class:`EncodingError` on a count or hash-size mismatch.
    """
    if k < 0 or n_leaves < 0:
        raise ValueError("k and n_leaves must be >= 0")
    expected = -(-n_leaves >> k)  # ceil(n_leaves / 2^k)
    if len(roots) != expected:
        raise EncodingError(
            f"{n_leaves} leaves in chunks of 2^{k} make {expected} chunk roots, got {len(roots)}"
        )
    return _root_of_blob(_join_leaf_hashes(roots))


class MerkleTree:
    """An RFC 9162 tree that keeps every level, so proofs cost O(log n) after one O(n) build.

    Levels are stored as contiguous byte strings (32 bytes per node), about ``64 * n`` bytes in
    total: 64 MiB for a million leaves.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        """Build the tree from 32-byte leaf hashes (any iterable; consumed once)."""
        level = _join_leaf_hashes(leaf_hashes)
        levels = [level]
        while len(level) > HASH_SIZE:
            level = _next_level(level)
            levels.append(level)
        self._levels: list[bytes] = levels

    @classmethod
    def from_chunk_trees(cls, chunks: Sequence[MerkleTree], k: int) -> MerkleTree:
        """Assemble the whole tree from trees over consecutive chunks of ``2^k`` leaves.

        Every chunk but the last must hold exactly ``2^k`` leaves (the last 1 to ``2^k``). Because
        such chunks are complete subtrees, levels ``0..k`` of the whole tree are the chunks' levels
        side by side; only the levels above ``k`` are hashed here. This lets workers build (and
        pickle back) chunk trees in parallel. Raises :class:`EncodingError` on a wrong chunk size.
        """
        if k < 0:
            raise ValueError("k must be >= 0")
        size = 1 << k
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            if chunk.size != size and not (last and 0 < chunk.size < size):
                raise EncodingError(f"chunk {i}: expected {size} leaves, got {chunk.size}")
        tree = cls.__new__(cls)
        if not chunks:
            tree._levels = [b""]
            return tree
        levels: list[bytes] = []
        for h in range(k + 1):
            # A chunk whose own tree is shorter than h contributes its root (promoted unchanged).
            levels.append(b"".join(c._levels[min(h, len(c._levels) - 1)] for c in chunks))
            if len(levels[-1]) == HASH_SIZE:
                break
        level = levels[-1]
        while len(level) > HASH_SIZE:
            level = _next_level(level)
            levels.append(level)
        tree._levels = levels
        return tree

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> MerkleTree:
        """Build the tree from raw leaf data, hashing each with :func:`leaf_hash`."""
        return cls(leaf_hash(d) for d in leaves)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    @property
    def root(self) -> bytes:
        """``MTH`` of all leaves."""
        top = self._levels[-1]
        return top if top else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash at ``index`` (0-based)."""
        self._check_index(index)
        return self._node(0, index)

    def _node(self, level: int, position: int) -> bytes:
        o = position * HASH_SIZE
        return self._levels[level][o : o + HASH_SIZE]

    def _check_index(self, index: int) -> None:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise ProvingError(f"leaf index {index!r} is outside the tree of size {self.size}")

    def inclusion_proof(self, index: int) -> list[bytes]:
        """Return ``PATH(index, D[n])`` (RFC 9162 §2.1.3.1), ordered from the leaf upwards.

        Raises :class:`ProvingError` if ``index`` is not in ``[0, size)``.
        """
        self._check_index(index)
        path: list[bytes] = []
        i = index
        for level in range(len(self._levels) - 1):
            width = len(self._levels[level]) // HASH_SIZE
            sibling = i ^ 1
            if sibling < width:  # otherwise this node is promoted and contributes no path element
                path.append(self._node(level, sibling))
            i >>= 1
        return path

    def _range_hash(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` for a range that is a node of the tree (aligned, or ending at n)."""
        height = (end - start - 1).bit_length()
        assert start % (1 << height) == 0, "range start must be aligned to its height"
        assert end - start == 1 << height or end == self.size, "range must be complete or end the tree"
        return self._node(height, start >> height)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """Return ``PROOF(old_size, D[n])`` (RFC 9162 §2.1.4.1) for ``0 < old_size <= n``.

        For ``old_size == n`` the proof is empty (the roots must simply be equal). Raises
        :class:`ProvingError` for ``old_size`` outside ``[1, n]``.
        """
        n = self.size
        if not isinstance(old_size, int) or isinstance(old_size, bool) or not 0 < old_size <= n:
            raise ProvingError(f"old size {old_size!r} must be in [1, {n}] for a consistency proof")
        if old_size == n:
            return []
        proof: list[bytes] = []
        self._subproof(old_size, 0, n, True, proof)
        return proof

    def _subproof(self, m: int, start: int, end: int, complete: bool, out: list[bytes]) -> None:
        """RFC 9162 §2.1.4.1 ``SUBPROOF(m, D[start:end], b)``, appended to ``out`` in order."""
        size = end - start
        if m == size:
            if not complete:
                out.append(self._range_hash(start, end))
            return
        k = 1 << ((size - 1).bit_length() - 1)  # largest power of two below size
        if m <= k:
            self._subproof(m, start, start + k, complete, out)
            out.append(self._range_hash(start + k, end))
        else:
            self._subproof(m - k, start + k, end, False, out)
            out.append(self._range_hash(start, start + k))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return ``PATH(index, D[n])`` (RFC 9162 §2.1.3.1) for one leaf; builds the tree once (O(n)).

    For many proofs over one tree, build a :class:`MerkleTree` and call its method instead.
    """
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return ``PROOF(old_size, D[n])`` (RFC 9162 §2.1.4.1) for ``0 < old_size <= n``."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def _check_size(check: str, name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError(check, f"{name} must be a non-negative integer, got {value!r}")
    return value


def _check_hash(check: str, name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise VerificationError(check, f"{name} must be a {HASH_SIZE}-byte hash, got {size}")
    return bytes(value)


def _check_proof(check: str, proof: object) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise VerificationError(check, f"proof must be a list of hashes, got {type(proof).__name__}")
    return [_check_hash(check, f"proof[{i}]", p) for i, p in enumerate(proof)]


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` leaves with ``root``.

    Implements RFC 9162 §2.1.3.2. Returns ``None``; raises
    ``VerificationError("merkle.inclusion", ...)`` if the index is out of range, any hash is not
    32 bytes, the proof has the wrong length, or the recomputed root differs.
    """
    check = CHECK_INCLUSION
    index = _check_size(check, "leaf index", index)
    tree_size = _check_size(check, "tree size", tree_size)
    r = _check_hash(check, "leaf hash", leaf_hash)
    expected_root = _check_hash(check, "root", root)
    path = _check_proof(check, proof)
    if index >= tree_size:
        raise VerificationError(check, f"leaf index {index} is not below tree size {tree_size}")
    fn, sn = index, tree_size - 1
    for p in path:
        if sn == 0:
            raise VerificationError(check, f"proof is too long for leaf {index} of {tree_size}")
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(check, f"proof is too short for leaf {index} of {tree_size}")
    if not hmac.compare_digest(r, expected_root):
        raise VerificationError(check, "recomputed root does not match the expected root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``new_size``, ``new_root``) extends the tree (``old_size``, ``old_root``).

    Implements RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Equal sizes are consistent
    exactly when the roots are equal and the proof is empty. A consistency proof from the empty
    tree is meaningless (RFC 9162 defines ``PROOF(m, D[n])`` only for ``0 < m``) and is rejected,
    as are roots or proof elements that are not 32-byte hashes. Returns ``None``; raises
    ``VerificationError("merkle.consistency", ...)`` naming the failed condition.
    """
    check = CHECK_CONSISTENCY
    old_size = _check_size(check, "old size", old_size)
    new_size = _check_size(check, "new size", new_size)
    first = _check_hash(check, "old root", old_root)
    second = _check_hash(check, "new root", new_root)
    path = _check_proof(check, proof)
    if old_size > new_size:
        raise VerificationError(check, f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if path:
            raise VerificationError(check, "proof must be empty for equal tree sizes")
        if not hmac.compare_digest(first, second):
            raise VerificationError(check, "equal tree sizes but different roots")
        return
    if old_size == 0:
        raise VerificationError(check, "a consistency proof from the empty tree is meaningless")
    if not path:
        raise VerificationError(check, "proof is empty")
    if old_size & (old_size - 1) == 0:  # old tree is a complete subtree: its root starts the path
        path = [first, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(check, "proof is too long")
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(check, "proof is too short")
    if not hmac.compare_digest(fr, first):
        raise VerificationError(check, "recomputed old root does not match")
    if not hmac.compare_digest(sr, second):
        raise VerificationError(check, "recomputed new root does not match")


class RootAccumulator:
    """Streaming RFC 9162 root: add leaf hashes one at a time, O(log n) memory.

    Keeps the roots of the perfect subtrees that make up the tree so far (its "compact range").
    Use it to hash a tape as it streams past without holding all leaves.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        """Start an empty tree."""
        self._stack: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves added."""
        return self._size

    def add(self, leaf_hash: bytes) -> None:
        """Append one 32-byte leaf hash."""
        if len(leaf_hash) != HASH_SIZE:
            raise EncodingError(f"leaf hash {self._size}: expected {HASH_SIZE} bytes, got {len(leaf_hash)}")
        h = bytes(leaf_hash)
        n = self._size
        while n & 1:  # merge completed perfect subtrees, like a binary counter carry
            h = _sha256(_NODE_PREFIX + self._stack.pop() + h).digest()
            n >>= 1
        self._stack.append(h)
        self._size += 1

    def root(self) -> bytes:
        """``MTH`` of the leaves added so far (does not consume the accumulator)."""
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = _sha256(_NODE_PREFIX + left + h).digest()
        return h
