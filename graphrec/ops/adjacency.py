"""A bipartite, destination-sorted CSR adjacency built once per graph."""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

_INT32_MAX = 2**31 - 1


def _index_dtype(*sizes: int) -> torch.dtype:
    return torch.int32 if max(sizes, default=0) <= _INT32_MAX else torch.int64


def validate_edge_index(edge_index: Tensor, size: tuple[int, int]) -> None:
    r"""Raises a :class:`ValueError` naming the first bad value if any index of
    :obj:`edge_index` lies outside :obj:`[0, size[0])` (sources) or
    :obj:`[0, size[1])` (destinations)."""
    for i, (name, n) in enumerate((("source", size[0]), ("destination", size[1]))):
        idx = edge_index[i]
        if idx.numel() == 0:
            continue
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            pos = int((idx == bad).nonzero()[0, 0])
            valid = f"0..{n - 1}" if n > 0 else "none (the node set is empty)"
            raise ValueError(
                f"edge_index[{i}] ({name} nodes) holds {bad} at edge {pos}; valid "
                f"{name} indices are {valid} (num_{('src', 'dst')[i]}={n})"
            )


def _check_index_tensor(t: Any, fn: str, name: str) -> None:
    # Static checks only (no value read): a 1-D int32 / int64 tensor.
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"{fn}: {name} must be an int32 or int64 tensor, got {t.dtype}")
    if t.dim() != 1:
        raise ValueError(f"{fn}: {name} must be 1-D, got shape {tuple(t.shape)}")


def validate_ptr(ptr: Any, fn: str, name: str = "ptr", *, num_segments: int | None = None,
                 segments_of: str = "", numel: int | None = None, numel_of: str = "",
                 check_values: bool = True) -> int | None:
    r"""Checks a CSR pointer and raises a :class:`ValueError` that starts with
    :obj:`fn` and names :obj:`name` (and the first bad position) unless it is
    a 1-D :obj:`int32` / :obj:`int64` tensor with at least one entry
    (:obj:`num_segments + 1` if given), :obj:`ptr[0] == 0`, non-decreasing,
    and (if :obj:`numel` is given) :obj:`ptr[-1] == numel`.

    The value checks are vectorised and read back one small tensor (one host
    synchronisation on CUDA); with :obj:`check_values=False` only the shape
    and dtype are checked. Returns :obj:`int(ptr[-1])` when the values were
    checked, else :obj:`None`."""
    _check_index_tensor(ptr, fn, name)
    if ptr.numel() < 1:
        raise ValueError(f"{fn}: {name} must have at least one entry (number of segments + 1), "
                         f"got an empty tensor")
    if num_segments is not None and ptr.numel() != num_segments + 1:
        raise ValueError(f"{fn}: {name} must have {segments_of} + 1 = {num_segments + 1} "
                         f"entries, got {ptr.numel()}")
    if not check_values:
        return None
    dec = ptr[1:] < ptr[:-1]
    first, last, bad = torch.stack([ptr[0].long(), ptr[-1].long(), dec.any().long()]).tolist()
    if first != 0:
        raise ValueError(f"{fn}: {name} must start at 0, got {name}[0]={first}")
    if bad:
        i = int(dec.nonzero()[0, 0])
        a, b = ptr[i:i + 2].tolist()
        raise ValueError(f"{fn}: {name} must be non-decreasing; "
                         f"{name}[{i}]={a} > {name}[{i + 1}]={b}")
    if numel is not None and last != numel:
        raise ValueError(f"{fn}: {name} must end at {numel_of}={numel}, got {name}[-1]={last}")
    return last


def validate_edge_weight(edge_weight: Tensor, fn: str, normalize: bool) -> None:
    r"""Raises a :class:`ValueError` naming the first bad entry if
    :obj:`edge_weight` holds NaN or infinity, or, with :obj:`normalize=True`,
    a negative weight: symmetric degree normalisation
    :math:`1/\sqrt{\deg(u)\deg(i)}` sums the weights into degrees, and a zero
    or negative degree turns into inf / NaN."""
    w = edge_weight.detach().reshape(-1)
    if w.is_floating_point():
        bad = ~torch.isfinite(w)
        if normalize:
            bad |= w < 0
    elif normalize and w.dtype != torch.bool:
        bad = w < 0
    else:
        return
    if not bool(bad.any()):
        return
    i = int(bad.nonzero()[0, 0])
    v = w[i].item()
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{fn}: edge_weight[{i}]={v} is not finite; edge weights must be "
                         f"finite")
    raise ValueError(
        f"{fn}: edge_weight[{i}]={v} is negative, but normalize=True needs non-negative "
        f"edge weights: symmetric degree normalisation 1/sqrt(deg(src) * deg(dst)) sums the "
        f"weights into degrees, and a zero or negative degree gives inf/NaN. Pass "
        f"normalize=False to use signed weights as given"
    )


def _validate_csr(rowptr: Any, col: Any, weight: Any, size: Any, perm: Any, deg_src: Any,
                  deg_dst: Any, fn: str = "CSRAdjacency") -> tuple[int, int]:
    # Everything a user-built adjacency must satisfy before any kernel reads it.
    try:
        num_src, num_dst = (int(n) for n in size)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: size must be (num_src, num_dst), got {size!r}") from None
    if num_src < 0 or num_dst < 0:
        raise ValueError(f"{fn}: size must be non-negative, got (num_src={num_src}, "
                         f"num_dst={num_dst})")
    _check_index_tensor(col, fn, "col")
    _check_index_tensor(rowptr, fn, "rowptr")
    if rowptr.dtype != col.dtype:
        raise ValueError(f"{fn}: rowptr and col must have the same dtype, got rowptr "
                         f"{rowptr.dtype} and col {col.dtype}")
    device = col.device
    for name, t in (("rowptr", rowptr), ("weight", weight), ("perm", perm),
                    ("deg_src", deg_src), ("deg_dst", deg_dst)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{fn}: {name} must be a torch.Tensor or None, got "
                            f"{type(t).__name__}")
        if t is not None and t.device != device:
            raise ValueError(f"{fn}: {name} is on {t.device} but col is on {device}")
    num_edges = col.numel()
    validate_ptr(rowptr, fn, "rowptr", num_segments=num_dst, segments_of="num_dst",
                 numel=num_edges, numel_of="col.numel()")
    if num_edges:
        lo, hi = torch.stack(torch.aminmax(col)).tolist()
        if lo < 0 or hi >= num_src:
            pos = int(((col < 0) | (col >= num_src)).nonzero()[0, 0])
            valid = f"0..{num_src - 1}" if num_src > 0 else "none"
            raise ValueError(f"{fn}: col[{pos}]={int(col[pos])} is out of range; valid source "
                             f"indices are {valid} (num_src={num_src})")
    if weight is not None:
        if not weight.is_floating_point():
            raise ValueError(f"{fn}: weight must be a floating-point tensor, got {weight.dtype}")
        if weight.shape != (num_edges,):
            raise ValueError(f"{fn}: weight must have shape (col.numel(),) = ({num_edges},), "
                             f"got {tuple(weight.shape)}")
    if perm is not None:
        _check_index_tensor(perm, fn, "perm")
        if perm.numel() != num_edges:
            raise ValueError(f"{fn}: perm must have col.numel()={num_edges} entries, got "
                             f"{perm.numel()}")
        if num_edges:
            lo, hi = torch.stack(torch.aminmax(perm)).tolist()
            if lo < 0 or hi >= num_edges:
                pos = int(((perm < 0) | (perm >= num_edges)).nonzero()[0, 0])
                raise ValueError(f"{fn}: perm[{pos}]={int(perm[pos])} is out of range; valid "
                                 f"edge ids are 0..{num_edges - 1}")
    for name, t, n, of in (("deg_src", deg_src, num_src, "num_src"),
                           ("deg_dst", deg_dst, num_dst, "num_dst")):
        if t is not None and t.shape != (n,):
            raise ValueError(f"{fn}: {name} must have shape ({of},) = ({n},), got "
                             f"{tuple(t.shape)}")
    return num_src, num_dst


class CSRAdjacency:
    r"""The adjacency of a (bipartite) graph from :obj:`num_src` source nodes to
    :obj:`num_dst` destination nodes, stored as destination-sorted CSR so that
    propagation :math:`\mathbf{Y} = \mathbf{A} \mathbf{X}` is row-parallel.

    Built once per graph; it caches what every propagation needs:

    * :obj:`rowptr` (:obj:`num_dst + 1`) and :obj:`col` (:obj:`|E|`), in
      :obj:`int32` whenever sizes fit;
    * :obj:`weight` (:obj:`|E|`): the edge weights, with LightGCN's symmetric
      normalisation :math:`1/\sqrt{d_u d_i}` already applied if
      :obj:`normalize=True`;
    * :obj:`deg_src`, :obj:`deg_dst`: (weighted) degree vectors;
    * the transpose (:meth:`t`), i.e. the reverse direction ``dst -> src``,
      built on first use and cached both ways: ``adj.t().t() is adj``.

    Sizes are ``(num_src, num_dst)``; the square :math:`(U+I)^2` matrix is
    never formed for a bipartite graph.

    Args:
        rowptr (torch.Tensor): CSR row pointer over destination nodes.
        col (torch.Tensor): source node of every edge, sorted by destination.
        weight (torch.Tensor, optional): per-edge weight in CSR order.
            (default: :obj:`None`, meaning all ones)
        size ((int, int)): :obj:`(num_src, num_dst)`.
        perm (torch.Tensor, optional): for each CSR position, the id of the
            edge in the edge list it was built from. (default: :obj:`None`)
        deg_src (torch.Tensor, optional): out-degree of source nodes.
        deg_dst (torch.Tensor, optional): in-degree of destination nodes.

    Use :meth:`from_edge_index` or :meth:`from_hetero` rather than this
    constructor. The constructor validates its arguments once (on every
    device): a :class:`ValueError` names the offending argument and its first
    bad position if :obj:`rowptr` is not a non-decreasing pointer from 0 to
    :obj:`col.numel()` with :obj:`num_dst + 1` entries, if a :obj:`col` entry
    lies outside :obj:`[0, num_src)`, or if a dtype, length or device does not
    match; propagation then trusts the adjacency and checks nothing per call.
    """

    def __init__(
        self,
        rowptr: Tensor,
        col: Tensor,
        weight: Tensor | None,
        size: tuple[int, int],
        perm: Tensor | None = None,
        deg_src: Tensor | None = None,
        deg_dst: Tensor | None = None,
    ) -> None:
        size = _validate_csr(rowptr, col, weight, size, perm, deg_src, deg_dst)
        self._set(rowptr, col, weight, size, perm, deg_src, deg_dst)

    @classmethod
    def _trusted(
        cls,
        rowptr: Tensor,
        col: Tensor,
        weight: Tensor | None,
        size: tuple[int, int],
        perm: Tensor | None = None,
        deg_src: Tensor | None = None,
        deg_dst: Tensor | None = None,
    ) -> CSRAdjacency:
        # Internal constructor for tensors built (or moved) from an adjacency
        # that is already valid: skips the validation of ``__init__``.
        adj = cls.__new__(cls)
        adj._set(rowptr, col, weight, size, perm, deg_src, deg_dst)
        return adj

    def _set(self, rowptr: Tensor, col: Tensor, weight: Tensor | None, size: tuple[int, int],
             perm: Tensor | None, deg_src: Tensor | None, deg_dst: Tensor | None) -> None:
        self.rowptr = rowptr
        self.col = col
        self.weight = weight
        self.size = (int(size[0]), int(size[1]))
        self.perm = perm
        self.deg_src = deg_src
        self.deg_dst = deg_dst
        self._transpose: CSRAdjacency | None = None
        self._tperm: Tensor | None = None  # CSR position in self of each edge of self.t()
        self._row: Tensor | None = None
        self._cache: dict[Any, Any] = {}

    # ------------------------------------------------------------------ build
    @classmethod
    def from_edge_index(
        cls,
        edge_index: Tensor,
        size: tuple[int, int] | None = None,
        normalize: bool = True,
        edge_weight: Tensor | None = None,
    ) -> CSRAdjacency:
        r"""Builds the adjacency from a :obj:`(2, |E|)` tensor of
        :obj:`(src, dst)` pairs.

        Args:
            edge_index (torch.Tensor): edges as :obj:`(src, dst)` columns.
            size ((int, int), optional): :obj:`(num_src, num_dst)`; inferred
                as one past the largest index if :obj:`None`.
                (default: :obj:`None`)
            normalize (bool, optional): if :obj:`True`, multiplies each edge
                weight by :math:`1/\sqrt{\deg(u)\deg(i)}` (degrees summed over
                edge weights, as in PyG's :obj:`gcn_norm` without self-loops).
                (default: :obj:`True`)
            edge_weight (torch.Tensor, optional): weight of every edge.
                (default: :obj:`None`)
        """
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
            shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index)
            raise ValueError(f"edge_index must be a (2, E) tensor, got {shape}")
        if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
            raise TypeError(f"edge_index must hold integers, got {edge_index.dtype}")
        edge_index = edge_index.long()
        num_edges = edge_index.size(1)
        if edge_weight is not None and edge_weight.numel() != num_edges:
            raise ValueError(
                f"edge_weight has {edge_weight.numel()} entries but edge_index has "
                f"{num_edges} edges"
            )
        if edge_weight is not None:
            validate_edge_weight(edge_weight, "CSRAdjacency.from_edge_index", normalize)
        if size is None:
            if num_edges == 0:
                size = (0, 0)
            else:
                if int(edge_index.min()) < 0:
                    validate_edge_index(edge_index, (1 << 62, 1 << 62))
                size = (int(edge_index[0].max()) + 1, int(edge_index[1].max()) + 1)
        num_src, num_dst = int(size[0]), int(size[1])
        if num_src < 0 or num_dst < 0:
            raise ValueError(f"size must be non-negative, got {size}")
        validate_edge_index(edge_index, (num_src, num_dst))

        src, dst = edge_index[0], edge_index[1]
        device = edge_index.device
        # Sort by (dst, src): rows are destinations, columns ascend within a row.
        key = dst * max(num_src, 1) + src
        perm = torch.argsort(key, stable=True)
        src, dst = src[perm], dst[perm]
        w = None if edge_weight is None else edge_weight.reshape(-1)[perm]

        idx_dtype = _index_dtype(num_src, num_dst, num_edges)
        counts = torch.bincount(dst, minlength=num_dst)
        rowptr = torch.zeros(num_dst + 1, dtype=torch.long, device=device)
        torch.cumsum(counts, 0, out=rowptr[1:])

        fdtype = w.dtype if w is not None else torch.get_default_dtype()
        ones = torch.ones(num_edges, dtype=fdtype, device=device) if w is None else w
        deg_src = torch.zeros(num_src, dtype=fdtype, device=device).index_add_(0, src, ones)
        deg_dst = torch.zeros(num_dst, dtype=fdtype, device=device).index_add_(0, dst, ones)
        if normalize:
            norm = (deg_src[src] * deg_dst[dst]).rsqrt()
            norm = norm.masked_fill(torch.isinf(norm), 0.0)
            w = norm if w is None else w * norm
        adj = cls._trusted(
            rowptr.to(idx_dtype),
            src.to(idx_dtype),
            w,
            (num_src, num_dst),
            perm=perm,
            deg_src=deg_src,
            deg_dst=deg_dst,
        )
        adj._row = dst.to(idx_dtype)
        # Built eagerly (once per graph) so that a compiled model finds every
        # data-dependent structure ready and traces without graph breaks.
        adj.t()
        if w is None or not w.requires_grad:
            adj.t_values(fdtype)
            adj.t().t_values(fdtype)
        return adj

    @classmethod
    def from_hetero(cls, data: Any, edge_type: Any, normalize: bool = True,
                    weight_attr: str | None = None) -> CSRAdjacency:
        r"""Builds the adjacency of one edge type of a
        :class:`~torch_geometric.data.HeteroData` object, with sizes taken
        from the node stores of its source and destination types.

        ``data`` is read duck-typed (``ops`` imports no data class): any object with
        ``data[edge_type].edge_index`` and ``data[node_type].num_nodes`` works.
        Models build their user x item training graph with
        ``CSRAdjacency.from_hetero(data, ('user', 'clicks', 'item'))``.

        Args:
            data (torch_geometric.data.HeteroData): the graph.
            edge_type (tuple or str): the edge type, e.g.
                :obj:`('user', 'clicks', 'item')`.
            normalize (bool, optional): see :meth:`from_edge_index`.
                (default: :obj:`True`)
            weight_attr (str, optional): name of an edge attribute holding
                edge weights. (default: :obj:`None`)
        """
        store = data[edge_type]
        src_type, _, dst_type = store._key if hasattr(store, "_key") else edge_type
        size = (data[src_type].num_nodes, data[dst_type].num_nodes)
        weight = None if weight_attr is None else store[weight_attr]
        return cls.from_edge_index(store.edge_index, size=size, normalize=normalize,
                                   edge_weight=weight)

    # ------------------------------------------------------------ accessors
    @property
    def num_src(self) -> int:
        return self.size[0]

    @property
    def num_dst(self) -> int:
        return self.size[1]

    @property
    def num_edges(self) -> int:
        return self.col.numel()

    @property
    def device(self) -> torch.device:
        return self.col.device

    @property
    def row(self) -> Tensor:
        r"""The destination node of every edge, in CSR order (built lazily)."""
        if self._row is None:
            counts = self.rowptr[1:] - self.rowptr[:-1]
            self._row = torch.repeat_interleave(
                torch.arange(self.num_dst, device=self.device, dtype=self.col.dtype),
                counts.long(), output_size=self.num_edges)
        return self._row

    def degree_count(self) -> Tensor:
        r"""Number of stored edges per destination row (:obj:`int64`)."""
        return (self.rowptr[1:] - self.rowptr[:-1]).long()

    def edge_index(self) -> Tensor:
        r"""Returns the edges as a :obj:`(2, |E|)` :obj:`int64` tensor in CSR
        order (:obj:`(src, dst)` rows)."""
        return torch.stack([self.col.long(), self.row.long()], 0)

    def values(self, dtype: torch.dtype | None = None, reduce: str = "sum") -> Tensor:
        r"""Per-edge multipliers for a propagation with :obj:`reduce`
        (``'sum'``: the weights, or ones; ``'mean'``: additionally divided by
        the number of edges of the row), cached per ``(dtype, reduce)``."""
        if dtype is None:
            dtype = self.weight.dtype if self.weight is not None else torch.get_default_dtype()
        w = self.weight
        if w is not None and w.requires_grad:  # never cache a tensor in an autograd graph
            return self._make_values(w.to(dtype), reduce)
        key = ("values", dtype, reduce)
        if key not in self._cache:
            if torch.compiler.is_compiling():  # trace the computation, mutate nothing
                base = (torch.ones(self.num_edges, dtype=dtype, device=self.device)
                        if w is None else w.to(dtype))
                return self._make_values(base, reduce)
            base = (torch.ones(self.num_edges, dtype=dtype, device=self.device)
                    if w is None else w.to(dtype))
            self._cache[key] = self._make_values(base, reduce)
        return self._cache[key]

    def t_values(self, dtype: torch.dtype | None = None, reduce: str = "sum") -> Tensor:
        r""":meth:`values` permuted into the CSR order of :meth:`t`: the
        multipliers of the backward pass :math:`\mathbf{A}^\top \mathbf{G}`."""
        v = self.values(dtype, reduce)
        if v.requires_grad:
            return v.detach()[self.tperm]
        key = ("t_values", v.dtype, reduce)
        if key not in self._cache:
            if torch.compiler.is_compiling():
                return v[self.tperm]
            self._cache[key] = v[self.tperm]
        return self._cache[key]

    def _make_values(self, base: Tensor, reduce: str) -> Tensor:
        if reduce == "sum":
            return base
        if reduce == "mean":
            cnt = self.degree_count().clamp_(min=1).to(base.dtype)
            return base / cnt[self.row.long()]
        raise ValueError(f"reduce must be 'sum' or 'mean' for spmm, got {reduce!r}")

    # ------------------------------------------------------------ transpose
    @property
    def tperm(self) -> Tensor:
        r"""For each edge of :meth:`t` (in its CSR order), its position in this
        adjacency's CSR order: ``self.t().weight == self.weight[self.tperm]``."""
        self.t()
        assert self._tperm is not None
        return self._tperm

    def t(self) -> CSRAdjacency:
        r"""The reverse direction ``dst -> src`` (the transpose), cached: for a
        user->item graph this is the item->user graph with the same
        normalised weights."""
        if self._transpose is None:
            num_src, num_dst = self.size
            row = self.row.long()
            key = self.col.long() * max(num_dst, 1) + row
            tperm = torch.argsort(key, stable=True)
            counts = torch.bincount(self.col.long(), minlength=num_src)
            rowptr = torch.zeros(num_src + 1, dtype=torch.long, device=self.device)
            torch.cumsum(counts, 0, out=rowptr[1:])
            weight = None if self.weight is None else self.weight[tperm]
            perm = None if self.perm is None else self.perm[tperm]
            t = CSRAdjacency._trusted(rowptr.to(self.rowptr.dtype), row[tperm].to(self.col.dtype),
                                      weight, (num_dst, num_src), perm=perm,
                                      deg_src=self.deg_dst, deg_dst=self.deg_src)
            t._transpose = self
            t._row = self.col[tperm]
            t._tperm = torch.empty_like(tperm)
            t._tperm[tperm] = torch.arange(tperm.numel(), device=self.device)
            self._tperm = tperm
            self._transpose = t
        return self._transpose

    transpose = t
    reverse = t

    # ---------------------------------------------------------------- misc
    def to_torch_sparse_csr(self, dtype: torch.dtype | None = None) -> Tensor:
        r"""This adjacency as a :obj:`(num_dst, num_src)`
        :obj:`torch.sparse_csr` tensor (cached per dtype)."""
        values = self.values(dtype)
        key = ("csr", values.dtype)
        if values.requires_grad or key not in self._cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                out = torch.sparse_csr_tensor(self.rowptr, self.col, values,
                                              (self.num_dst, self.num_src),
                                              check_invariants=False)
            if values.requires_grad:
                return out
            self._cache[key] = out
        return self._cache[key]

    def to(self, *args: Any, **kwargs: Any) -> CSRAdjacency:
        r"""Moves index tensors to a device (and floating tensors to a dtype,
        if one is given), keeping the cached transpose in step."""
        def move(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            if t.is_floating_point():
                return t.to(*args, **kwargs)
            devices = (a for a in args if isinstance(a, (str, torch.device)))
            dev = kwargs.get("device", next(devices, None))
            return t if dev is None else t.to(dev)

        out = CSRAdjacency._trusted(move(self.rowptr), move(self.col), move(self.weight),
                                    self.size, perm=move(self.perm),
                                    deg_src=move(self.deg_src), deg_dst=move(self.deg_dst))
        out._row = move(self._row)
        if self._transpose is not None:
            tr = self._transpose
            t = CSRAdjacency._trusted(move(tr.rowptr), move(tr.col), move(tr.weight), tr.size,
                                      perm=move(tr.perm), deg_src=move(tr.deg_src),
                                      deg_dst=move(tr.deg_dst))
            t._row = move(tr._row)
            out._transpose, t._transpose = t, out
            out._tperm, t._tperm = move(self._tperm), move(tr._tperm)
            if out.weight is None or not out.weight.requires_grad:  # ready for torch.compile
                out.t_values()
                t.t_values()
        return out

    def cuda(self, device: Any = None) -> CSRAdjacency:
        return self.to(torch.device("cuda") if device is None else torch.device("cuda", device)
                       if isinstance(device, int) else device)

    def cpu(self) -> CSRAdjacency:
        return self.to(torch.device("cpu"))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_src={self.num_src}, num_dst={self.num_dst}, "
                f"num_edges={self.num_edges}, index_dtype={self.col.dtype}, "
                f"weighted={self.weight is not None}, device={self.device})")


def adjacency_on(owner: Any, name: str, device: torch.device | str) -> CSRAdjacency:
    r"""``owner``'s :class:`CSRAdjacency` attribute ``name`` on ``device``, moved there (and
    stored back) the first time it is asked for on it. A ``CSRAdjacency`` is no buffer, so
    ``Module.to`` leaves it where it was built; models fetch it through this on each use."""
    adj = getattr(owner, name)
    if adj.device != torch.device(device):
        adj = adj.to(device)
        setattr(owner, name, adj)
    return adj


__all__ = ["CSRAdjacency", "adjacency_on", "validate_edge_index", "validate_ptr", "validate_edge_weight"]
