"""Public rasteriser ops: checks, autograd, backend dispatch.

Each op is a ``torch.library.custom_op`` (namespace ``avatar3d``) with a fake
(meta) implementation and a registered autograd formula, so
``torch.library.opcheck`` and ``torch.compile`` work. The public functions
validate their inputs once (``ValueError`` naming the argument and printing the
actual shape/value) and call the ops. In plain eager mode with the compiled
extension they call it through an ``autograd.Function`` with the same forward
and backward instead (see ``_eager_extension``).

Conventions (shared by every backend)
-------------------------------------
* Clip space: ``pos_clip = (x, y, z, w)``, NDC = xyz / w; NDC x points right and
  NDC **y points down** (Vulkan style, matching the OpenCV camera and image rows).
* Pixels: ``u = (x/w + 1) * W / 2``, ``v = (y/w + 1) * H / 2``; output row i,
  column j is the pixel whose centre is (u, v) = (j + 0.5, i + 0.5); row 0 is the
  top of the image.
* Depth: z/w in [-1, 1], smaller is nearer, the depth test keeps the nearest;
  fragments with z/w outside [-1, 1] are discarded. Equal depth: the lower
  triangle id wins (deterministic).
* Near plane: a triangle with any vertex at w <= 0 is **rejected** as a whole (it
  is not drawn; nothing behind the camera ever projects). Triangles with all
  w > 0 are exactly clipped against the near/far planes per fragment by the
  z/w range test. Meshes that cross the camera plane therefore lose the
  crossing triangles instead of producing garbage.
* No backface culling.
* dtypes: float32 everywhere; float64 also works and runs the pure-PyTorch
  reference (the compiled kernels are float32-only). faces are int32 [F, 3].
"""
from __future__ import annotations

import dataclasses
import weakref

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _backend, _checks, reference

__all__ = ["rasterize", "interpolate", "texture", "antialias", "edge_topology"]

_FILTERS = {"nearest": 0, "bilinear": 1}


class _autograd_on:
    """Re-enable autograd inside a custom op implementation (where the autograd dispatch
    keys are excluded), so a reference backward can differentiate the reference forward."""

    def __enter__(self):
        include = torch._C._dispatch_tls_local_include_set()
        exclude = torch._C._dispatch_tls_local_exclude_set()
        for key in ("AutogradCPU", "AutogradCUDA", "AutogradOther", "ADInplaceOrView", "AutogradFunctionality"):
            k = getattr(torch._C.DispatchKey, key, None)
            if k is not None:
                exclude = exclude.remove(k)
        self._guard = torch._C._ForceDispatchKeyGuard(include, exclude)
        self._guard.__enter__()
        return self

    def __exit__(self, *exc):
        self._guard.__exit__(*exc)
        return False
_BOUNDARIES = {"clamp": 0, "wrap": 1}


def _eager_extension(*tensors: Tensor):
    """The extension when an op may call it directly through an autograd.Function.

    A custom op call costs ~0.1 ms of torch.library dispatch in its forward and
    again in its backward: a third of a rasterize + interpolate + antialias
    step at 512². Plain eager calls with float32 tensors the extension handles
    skip it; torch.compile tracing, functorch transforms (vmap, grad), tensor
    subclasses (fake tensors) and the reference backend go through the custom ops.
    """
    if torch.compiler.is_compiling() or torch._C._functorch.peek_interpreter_stack() is not None:
        return None
    for t in tensors:
        if type(t) is not torch.Tensor or (t.is_floating_point() and t.dtype != torch.float32):
            return None
    return _backend.use_extension(tensors[0])


# Coverage spans. On the CPU, rasterize also returns, per image row, the column
# range outside which the row is empty (int32 [B * H, 2], see
# cuda_ext/csrc/common/op_args.h); interpolate, antialias and the backward
# passes use them to skip the empty parts of the image (most of it). They are
# attached to the rast tensor object together with its version counter, so a
# view, a copy or an in-place change of rast simply drops them. interpolate's
# output is marked in the same way as "zero outside these spans", which lets
# antialias write zeros there instead of copying them. (Writes that bypass the
# version counter, e.g. through ``.numpy()``, are not supported.)
_SPANS_ATTR = "_a3d_spans"
_ZERO_ATTR = "_a3d_zero_outside"
# rast and interpolate's output also remember their inputs (pos / attr, rast,
# faces, with versions) so that antialias' backward can take over theirs, see
# _AntialiasFn.
_RAST_SOURCE_ATTR = "_a3d_rasterized_from"
_INTERP_SOURCE_ATTR = "_a3d_interpolated_from"


def _mark(t: Tensor, attr: str, value) -> None:
    """Attach value to t, valid while t's version stays as it is now (None: nothing)."""
    if value is not None:
        setattr(t, attr, (t._version, value))


def _marked(t: Tensor, attr: str):
    info = t.__dict__.get(attr)
    return info[1] if info is not None and info[0] == t._version else None


def _mark_sources(t: Tensor, attr: str, *sources: Tensor) -> None:
    """Remember the tensors t was computed from, with their current versions."""
    _mark(t, attr, tuple((s, s._version) for s in sources))


def _sources(t: Tensor, attr: str) -> tuple[Tensor, ...] | None:
    """The tensors remembered by _mark_sources, if neither t nor any of them changed since."""
    src = _marked(t, attr)
    if src is None or any(s._version != v for s, v in src):
        return None
    return tuple(s for s, _ in src)


class _RasterizeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, pos, faces, height, width):
        if pos.device.type == "cpu":
            rast, spans = ext.rasterize_fwd_spans(pos, faces, height, width)
        else:
            rast, spans = ext.rasterize_fwd(pos, faces, height, width), None
        ctx.ext, ctx.spans = ext, spans
        ctx.set_materialize_grads(False)   # no gradient (antialias took over): no zero image
        ctx.save_for_backward(pos, faces, rast)
        if spans is not None:
            ctx.mark_non_differentiable(spans)
        return rast, spans

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_rast, _grad_spans):
        if grad_rast is None or not ctx.needs_input_grad[1]:
            return None, None, None, None, None
        pos, faces, rast = ctx.saved_tensors
        return None, ctx.ext.rasterize_bwd(pos, faces, rast, grad_rast.contiguous(), ctx.spans), None, None, None


class _InterpolateFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, attr, rast, faces, spans):
        ctx.ext, ctx.spans = ext, spans
        ctx.set_materialize_grads(False)   # no gradient (antialias took over): no zero image
        ctx.save_for_backward(attr, rast, faces)
        return ext.interpolate_fwd(attr, rast, faces, spans)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        want_a, want_r = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        if grad_out is None or not (want_a or want_r):
            return None, None, None, None, None
        attr, rast, faces = ctx.saved_tensors
        ga, gr = ctx.ext.interpolate_bwd(attr, rast, faces, grad_out.contiguous(), ctx.spans, want_a, want_r)
        return None, (ga if want_a else None), (gr if want_r else None), None, None


class _AntialiasFn(torch.autograd.Function):
    """On the CPU the forward records its (few, silhouette-only) blends and the
    backward replays them instead of rescanning rast.

    Taking over upstream backwards (CPU): when ``color`` is the untouched output
    of :func:`interpolate` (``interp`` = its attr and faces), the backward also
    does interpolate's backward, and when moreover ``rast`` is the untouched
    output of :func:`rasterize` of this ``pos`` and ``faces`` (``rast_fused``),
    rasterize's backward too. The intermediate gradients are then needed only
    on the covered pixels, which saves writing and reading full-image colour and
    rast gradients: the largest memory traffic of the step. (The colour gradient
    is not materialised at all: it equals ``grad_out`` except on the pixels the
    blends touch, which interpolate's backward reads from a short list.) ``color``'s (and
    ``rast``'s) own nodes then get no gradient from here (their other uses, if
    any, still reach them). This happens only when nobody looks at those
    gradients: not with ``retain_grad()`` or tensor hooks on ``color`` / ``rast``,
    nor when the backward needs ``color``'s gradient but not attr's or pos'
    (``autograd.grad(out, color)``), nor inside ``autograd.grad`` when attr or
    pos is a leaf. The one case it cannot see is ``autograd.grad`` asked for
    ``color`` (or ``rast``) *and* for a non-leaf tensor upstream of it in one
    call: that call gets no gradient for ``color``.
    """

    @staticmethod
    def forward(ctx, ext, color, rast, pos, faces, topology, spans, color_zero_outside, interp_attr, interp_faces,
                rast_fused):
        ctx.ext = ext
        if color.device.type == "cpu":
            out, events = ext.antialias_fwd_events(color, rast, pos, faces, topology, spans, color_zero_outside)
            ctx.recorded, ctx.spans = True, spans
            ctx.fusable, ctx.rast_fusable = interp_attr is not None, interp_attr is not None and rast_fused
            if ctx.fusable:
                ctx.save_for_backward(color, pos, events, rast, faces, interp_attr, interp_faces)
            else:
                ctx.save_for_backward(color, pos, events)
            return out
        ctx.recorded, ctx.fusable = False, False
        ctx.save_for_backward(color, rast, pos, faces, topology)
        return ext.antialias_fwd(color, rast, pos, faces, topology)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        n_args = 11
        want_c, want_p = ctx.needs_input_grad[1], ctx.needs_input_grad[3]
        if not (want_c or want_p):
            return (None,) * n_args
        grad_out = grad_out.contiguous()
        if not ctx.recorded:
            color, rast, pos, faces, topology = ctx.saved_tensors
            gc, gp = ctx.ext.antialias_bwd(color, rast, pos, faces, topology, grad_out)
            return (None, gc if want_c else None, None, gp if want_p else None) + (None,) * (n_args - 4)
        saved = ctx.saved_tensors
        color, pos, events = saved[:3]
        want_a, want_r, fuse_r = _upstream_takeover(ctx, color, saved[3]) if ctx.fusable and want_c else (False,) * 3
        if not (want_a or want_r):
            gc, gp = ctx.ext.antialias_bwd_events(color, pos, events, grad_out, want_c, want_p)
            return (None, gc if want_c else None, None, gp if want_p else None) + (None,) * (n_args - 4)
        rast, faces, attr, interp_faces = saved[3:]
        spans = ctx.spans
        # the colour gradient is grad_out except on the few pixels the blends touch
        pix, val, gp = ctx.ext.antialias_grad_overrides(color, pos, events, grad_out, want_p)
        ga, gr = ctx.ext.interpolate_bwd(attr, rast, interp_faces, grad_out, spans, want_a, want_r, fuse_r, pix, val)
        if fuse_r:
            pos3 = pos.unsqueeze(0) if pos.dim() == 2 else pos
            gp = gp + ctx.ext.rasterize_bwd(pos3, faces, rast, gr, spans).view_as(pos)
            want_r = False
        return (None, None, gr if want_r else None, gp if want_p else None, None, None, None, None,
                ga if want_a else None, None, None)


def _unobserved(t: Tensor) -> bool:
    return not (t.retains_grad or t._backward_hooks)


# Positions of rast, pos and interpolate's attr among _AntialiasFn's tensor inputs
# (= in ctx.next_functions) when it may take over: color, rast, pos, faces,
# topology, spans (a tensor then), interp_attr, interp_faces.
_RAST_EDGE, _POS_EDGE, _ATTR_EDGE = 1, 2, 6


def _upstream_takeover(ctx, color: Tensor, rast: Tensor) -> tuple[bool, bool, bool]:
    """(attr gradient, rast gradient, rasterize's backward too) that antialias'
    backward computes in place of interpolate's / rasterize's; all False keeps
    the plain chain (see _AntialiasFn)."""
    if not _unobserved(color):
        return False, False, False
    rast_node = ctx.next_functions[_RAST_EDGE][0]
    pos_node = ctx.next_functions[_POS_EDGE][0]
    attr_node = ctx.next_functions[_ATTR_EDGE][0]
    try:
        will_run = torch._C._will_engine_execute_node
        want_a = attr_node is not None and will_run(attr_node)
        want_r = rast_node is not None and will_run(rast_node)
        fuse_r = want_r and ctx.rast_fusable and pos_node is not None and will_run(pos_node)
    except RuntimeError:  # autograd.grad() cannot be asked about a leaf: keep the plain chain
        return False, False, False
    return want_a, want_r, fuse_r and _unobserved(rast)


# --------------------------------------------------------------------------- rasterize
@torch.library.custom_op("avatar3d::rasterize", mutates_args=())
def _rasterize_op(pos: Tensor, faces: Tensor, height: int, width: int) -> Tensor:
    ext = _backend.use_extension(pos)
    if ext is not None:
        return ext.rasterize_fwd(pos, faces, height, width)
    with torch.no_grad():
        return reference.rasterize(pos, faces, (height, width))


@_rasterize_op.register_fake
def _(pos, faces, height, width):
    return pos.new_empty(pos.shape[0], height, width, 4)


@torch.library.custom_op("avatar3d::rasterize_backward", mutates_args=())
def _rasterize_bwd_op(pos: Tensor, faces: Tensor, rast: Tensor, grad_rast: Tensor) -> Tensor:
    ext = _backend.use_extension(pos)
    if ext is not None:
        return ext.rasterize_bwd(pos, faces, rast, grad_rast.contiguous())
    with _autograd_on():
        return _rasterize_ref_vjp(pos, faces, rast, grad_rast)


def _rasterize_ref_vjp(pos, faces, rast, grad_rast):
    with torch.enable_grad():
        p = pos.detach().requires_grad_(True)
        out = reference.rasterize(p, faces, (rast.shape[1], rast.shape[2]))
        (g,) = torch.autograd.grad(out, p, grad_rast, allow_unused=True)
    return torch.zeros_like(pos) if g is None else g


@_rasterize_bwd_op.register_fake
def _(pos, faces, rast, grad_rast):
    return torch.empty_like(pos)


def _rasterize_setup(ctx, inputs, output):
    pos, faces, _, _ = inputs
    ctx.save_for_backward(pos, faces, output)


def _rasterize_backward(ctx, grad_rast):
    pos, faces, rast = ctx.saved_tensors
    if not ctx.needs_input_grad[0]:
        return None, None, None, None
    return _rasterize_bwd_op(pos, faces, rast, grad_rast), None, None, None


_rasterize_op.register_autograd(_rasterize_backward, setup_context=_rasterize_setup)


def rasterize(pos_clip: Tensor, faces: Tensor, resolution) -> Tensor:
    """Rasterize triangles.

    Args:
        pos_clip: clip-space vertex positions (x, y, z, w), float32 [B, V, 4] or
            [V, 4] (treated as B = 1), contiguous, finite.
        faces: int32 [F, 3] vertex indices, F >= 1, same device.
        resolution: (H, W) (or one int for a square image), each in [1, 8192].

    Returns:
        rast: float32 [B, H, W, 4] per pixel: (u, v, z/w, triangle_id + 1). (u, v)
        are the perspective-correct barycentric weights of the triangle's vertices
        1 and 2 (vertex 0 has 1 - u - v); z/w is the NDC depth (the optional depth
        output); the last channel is 0 where no triangle covers the pixel (then all
        channels are 0). Differentiable w.r.t. ``pos_clip`` through u, v and z/w
        (the triangle id carries no gradient). See the module docstring for the
        pixel/NDC conventions, the depth test and the near-plane rule.
    """
    _checks.tensor("pos_clip", pos_clip, (2, 3), last=4)
    height, width = _checks.resolution(resolution)
    pos = pos_clip.unsqueeze(0) if pos_clip.dim() == 2 else pos_clip
    _checks.same_device("faces", faces, "pos_clip", pos)
    _checks.faces(faces, pos.shape[1])
    _checks.finite("pos_clip", pos)
    ext = _eager_extension(pos, faces)
    if ext is not None:
        rast, spans = _RasterizeFn.apply(ext, pos, faces, height, width)
        _mark(rast, _SPANS_ATTR, spans)
        if spans is not None and rast.requires_grad:
            _mark_sources(rast, _RAST_SOURCE_ATTR, pos_clip, faces)
        return rast
    return _rasterize_op(pos, faces, height, width)


# --------------------------------------------------------------------------- interpolate
@torch.library.custom_op("avatar3d::interpolate", mutates_args=())
def _interpolate_op(attr: Tensor, rast: Tensor, faces: Tensor) -> Tensor:
    ext = _backend.use_extension(attr)
    if ext is not None and rast.dtype == torch.float32:
        return ext.interpolate_fwd(attr, rast, faces)
    with torch.no_grad():
        return reference.interpolate(attr, rast, faces)


@_interpolate_op.register_fake
def _(attr, rast, faces):
    return attr.new_empty(rast.shape[0], rast.shape[1], rast.shape[2], attr.shape[-1])


@torch.library.custom_op("avatar3d::interpolate_backward", mutates_args=())
def _interpolate_bwd_op(attr: Tensor, rast: Tensor, faces: Tensor, grad_out: Tensor) -> tuple[Tensor, Tensor]:
    ext = _backend.use_extension(attr)
    if ext is not None and rast.dtype == torch.float32:
        return ext.interpolate_bwd(attr, rast, faces, grad_out.contiguous())
    with _autograd_on(), torch.enable_grad():
        a = attr.detach().requires_grad_(True)
        r = rast.detach().requires_grad_(True)
        out = reference.interpolate(a, r, faces)
        ga, gr = torch.autograd.grad(out, (a, r), grad_out, allow_unused=True)
    return (torch.zeros_like(attr) if ga is None else ga, torch.zeros_like(rast) if gr is None else gr)


@_interpolate_bwd_op.register_fake
def _(attr, rast, faces, grad_out):
    return torch.empty_like(attr), torch.empty_like(rast)


def _interpolate_setup(ctx, inputs, output):
    attr, rast, faces = inputs
    ctx.save_for_backward(attr, rast, faces)


def _interpolate_backward(ctx, grad_out):
    attr, rast, faces = ctx.saved_tensors
    if not (ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):
        return None, None, None
    ga, gr = _interpolate_bwd_op(attr, rast, faces, grad_out)
    return (ga if ctx.needs_input_grad[0] else None), (gr if ctx.needs_input_grad[1] else None), None


_interpolate_op.register_autograd(_interpolate_backward, setup_context=_interpolate_setup)


def interpolate(attr: Tensor, rast: Tensor, faces: Tensor) -> Tensor:
    """Interpolate per-vertex attributes over the rasterised image.

    Args:
        attr: float32 [B, V, C] or [V, C] (shared by all B views) per-vertex attributes.
        rast: [B, H, W, 4] output of :func:`rasterize` (same dtype as attr).
        faces: int32 [F, 3], the faces given to :func:`rasterize`.

    Returns:
        float32 [B, H, W, C]: ``a0 * (1 - u - v) + a1 * u + a2 * v`` with the
        perspective-correct barycentrics of rast; 0 on empty pixels. Gradients flow
        to ``attr`` and, through the barycentrics in ``rast``, to the vertex
        positions given to :func:`rasterize`.
    """
    _checks.tensor("rast", rast, (4,), last=4)
    _checks.tensor("attr", attr, (2, 3))
    _checks.same_dtype("attr", attr, "rast", rast)
    _checks.same_device("attr", attr, "rast", rast)
    _checks.same_device("faces", faces, "rast", rast)
    if attr.dim() == 3 and attr.shape[0] != rast.shape[0]:
        raise ValueError(
            f"attr batch {attr.shape[0]} does not match rast batch {rast.shape[0]} "
            f"(attr shape {tuple(attr.shape)}, rast shape {tuple(rast.shape)})"
        )
    _checks.faces(faces, attr.shape[-2])
    ext = _eager_extension(attr, rast, faces)
    if ext is not None:
        spans = _marked(rast, _SPANS_ATTR)
        out = _InterpolateFn.apply(ext, attr, rast, faces, spans)
        _mark(out, _ZERO_ATTR, spans)
        if spans is not None and out.requires_grad:
            _mark_sources(out, _INTERP_SOURCE_ATTR, attr, rast, faces)
        return out
    return _interpolate_op(attr, rast, faces)


# --------------------------------------------------------------------------- texture
@torch.library.custom_op("avatar3d::texture", mutates_args=())
def _texture_op(tex: Tensor, uv: Tensor, filter: str, boundary: str) -> Tensor:
    ext = _backend.use_extension(tex)
    if ext is not None and uv.dtype == torch.float32:
        return ext.texture_fwd(tex, uv, _FILTERS[filter], _BOUNDARIES[boundary])
    with torch.no_grad():
        return reference.texture(tex, uv, filter, boundary)


@_texture_op.register_fake
def _(tex, uv, filter, boundary):
    return tex.new_empty(uv.shape[0], uv.shape[1], uv.shape[2], tex.shape[-1])


@torch.library.custom_op("avatar3d::texture_backward", mutates_args=())
def _texture_bwd_op(tex: Tensor, uv: Tensor, grad_out: Tensor, filter: str, boundary: str) -> tuple[Tensor, Tensor]:
    ext = _backend.use_extension(tex)
    if ext is not None and uv.dtype == torch.float32:
        return ext.texture_bwd(tex, uv, grad_out.contiguous(), _FILTERS[filter], _BOUNDARIES[boundary])
    with _autograd_on(), torch.enable_grad():
        t = tex.detach().requires_grad_(True)
        u = uv.detach().requires_grad_(True)
        out = reference.texture(t, u, filter, boundary)
        gt, gu = torch.autograd.grad(out, (t, u), grad_out, allow_unused=True)
    return (torch.zeros_like(tex) if gt is None else gt, torch.zeros_like(uv) if gu is None else gu)


@_texture_bwd_op.register_fake
def _(tex, uv, grad_out, filter, boundary):
    return torch.empty_like(tex), torch.empty_like(uv)


def _texture_setup(ctx, inputs, output):
    tex, uv, filter, boundary = inputs
    ctx.save_for_backward(tex, uv)
    ctx.filter, ctx.boundary = filter, boundary


def _texture_backward(ctx, grad_out):
    tex, uv = ctx.saved_tensors
    gt, gu = _texture_bwd_op(tex, uv, grad_out, ctx.filter, ctx.boundary)
    return (gt if ctx.needs_input_grad[0] else None), (gu if ctx.needs_input_grad[1] else None), None, None


_texture_op.register_autograd(_texture_backward, setup_context=_texture_setup)


def texture(tex: Tensor, uv: Tensor, filter: str = "bilinear", boundary: str = "wrap") -> Tensor:
    """Sample a texture at per-pixel texture coordinates.

    Args:
        tex: float32 [B, Ht, Wt, C] (or [1, Ht, Wt, C] shared by all views).
        uv: float32 [B, H, W, 2] texture coordinates: (0, 0) is the outer corner of
            texel row 0, column 0 (the first row in memory, the top of an image
            texture, as in glTF); u runs along the width, v along the rows; texel
            (i, j) has its centre at ((j + 0.5) / Wt, (i + 0.5) / Ht). Finite.
        filter: ``"bilinear"`` or ``"nearest"`` (no mipmapping yet).
        boundary: ``"wrap"`` (repeat) or ``"clamp"`` (edge texels).

    Returns:
        float32 [B, H, W, C]. Gradients flow to ``tex`` and (bilinear only) ``uv``.
    """
    _checks.tensor("tex", tex, (4,))
    _checks.tensor("uv", uv, (4,), last=2)
    _checks.same_dtype("uv", uv, "tex", tex)
    _checks.same_device("uv", uv, "tex", tex)
    _checks.choice("filter", filter, tuple(_FILTERS))
    _checks.choice("boundary", boundary, tuple(_BOUNDARIES))
    if tex.shape[0] not in (1, uv.shape[0]):
        raise ValueError(f"tex batch must be 1 or match uv batch {uv.shape[0]}, got tex shape {tuple(tex.shape)}")
    _checks.finite("uv", uv)
    return _texture_op(tex, uv, filter, boundary)


# --------------------------------------------------------------------------- antialias
@torch.library.custom_op("avatar3d::antialias", mutates_args=())
def _antialias_op(color: Tensor, rast: Tensor, pos: Tensor, faces: Tensor, topology: Tensor) -> Tensor:
    ext = _backend.use_extension(color)
    if ext is not None and pos.dtype == torch.float32 and rast.dtype == torch.float32:
        return ext.antialias_fwd(color, rast, pos, faces, topology)
    with torch.no_grad():
        return reference.antialias(color, rast, pos, faces, topology)


@_antialias_op.register_fake
def _(color, rast, pos, faces, topology):
    return torch.empty_like(color)


@torch.library.custom_op("avatar3d::antialias_backward", mutates_args=())
def _antialias_bwd_op(
    color: Tensor, rast: Tensor, pos: Tensor, faces: Tensor, topology: Tensor, grad_out: Tensor
) -> tuple[Tensor, Tensor]:
    ext = _backend.use_extension(color)
    if ext is not None and pos.dtype == torch.float32 and rast.dtype == torch.float32:
        return ext.antialias_bwd(color, rast, pos, faces, topology, grad_out.contiguous())
    with _autograd_on(), torch.enable_grad():
        c = color.detach().requires_grad_(True)
        p = pos.detach().requires_grad_(True)
        out = reference.antialias(c, rast, p, faces, topology)
        gc, gp = torch.autograd.grad(out, (c, p), grad_out, allow_unused=True)
    return (torch.zeros_like(color) if gc is None else gc, torch.zeros_like(pos) if gp is None else gp)


@_antialias_bwd_op.register_fake
def _(color, rast, pos, faces, topology, grad_out):
    return torch.empty_like(color), torch.empty_like(pos)


def _antialias_setup(ctx, inputs, output):
    color, rast, pos, faces, topology = inputs
    ctx.save_for_backward(color, rast, pos, faces, topology)


def _antialias_backward(ctx, grad_out):
    color, rast, pos, faces, topology = ctx.saved_tensors
    gc, gp = _antialias_bwd_op(color, rast, pos, faces, topology, grad_out)
    return (
        gc if ctx.needs_input_grad[0] else None,
        None,
        gp if ctx.needs_input_grad[2] else None,
        None,
        None,
    )


_antialias_op.register_autograd(_antialias_backward, setup_context=_antialias_setup)

@dataclasses.dataclass
class _TopologyEntry:
    faces: Tensor          # a private copy: the caller's tensor may change in place later
    num_vertices: int
    topology: Tensor
    seen: weakref.ref      # the tensor it was last asked for, valid while its version is seen_version
    seen_version: int


# Topology cache, keyed by faces content: callers often pass a fresh int32 copy of the same
# mesh's faces at every step (a fitting loop). Recomputing costs ~4 ms for a body, comparing
# contents ~0.06 ms, recognising the tensor last asked for nothing.
_topo_cache: list[_TopologyEntry] = []
_TOPO_CACHE_ENTRIES = 4


def edge_topology(faces: Tensor, num_vertices: int) -> Tensor:
    """Edge adjacency used by :func:`antialias` (cached per faces content).

    Returns int32 [F, 3]: for face edge k (joining face vertices k+1 and k+2) the
    vertex of the neighbouring face opposite that edge, or -1 on a boundary edge.
    """
    _checks.faces(faces, num_vertices)
    candidates = [e for e in _topo_cache if e.num_vertices == num_vertices]
    for e in candidates:
        if e.seen() is faces and e.seen_version == faces._version:
            return e.topology
    for e in candidates:
        if (e.faces.shape == faces.shape and e.faces.dtype == faces.dtype and e.faces.device == faces.device
                and torch.equal(e.faces, faces)):
            e.seen, e.seen_version = weakref.ref(faces), faces._version
            return e.topology
    topology = reference.edge_topology(faces, num_vertices).contiguous()
    _topo_cache.insert(0, _TopologyEntry(faces.detach().clone(), num_vertices, topology, weakref.ref(faces),
                                         faces._version))
    del _topo_cache[_TOPO_CACHE_ENTRIES:]
    return topology


def antialias(color: Tensor, rast: Tensor, pos_clip: Tensor, faces: Tensor, topology: Tensor | None = None) -> Tensor:
    """Analytic silhouette antialiasing with gradients to vertex positions.

    For every horizontally or vertically adjacent pixel pair whose triangle ids
    differ, the front triangle (the non-empty one, else the nearer one) is
    examined: if the segment between the two pixel centres crosses one of its
    *silhouette* edges (a boundary edge, or one whose neighbouring face folds
    over it in screen space) at fraction t from the front pixel, the colours of
    the pair are blended by the edge's 1-D coverage: for t > 1/2 the other pixel
    gets ``(t - 1/2) * (c_front - c_other)`` added, for t < 1/2 the front pixel
    gets ``(1/2 - t) * (c_other - c_front)``. Because t depends on the edge's
    projected vertices, a loss on the output moves silhouettes (e.g. a mask loss
    can fit a mesh).

    Args:
        color: float32 [B, H, W, C], e.g. the output of :func:`interpolate`.
        rast: [B, H, W, 4] from :func:`rasterize` with the same ``pos_clip``/``faces``.
        pos_clip: float32 [B, V, 4] or [V, 4] (shared by all views) clip positions.
        faces: int32 [F, 3].
        topology: optional precomputed :func:`edge_topology` (cached otherwise).

    Returns:
        float32 [B, H, W, C]. Gradients flow to ``color`` and ``pos_clip``.

    Note (CPU, eager): for the usual chain ``rasterize -> interpolate ->
    antialias`` the backward of antialias also runs interpolate's and
    rasterize's backward passes on the covered pixels only, without full-image
    intermediate gradients. ``retain_grad()``, hooks and ``autograd.grad`` on
    ``color`` or ``rast`` still get their full gradients; only an
    ``autograd.grad`` call that asks for ``color`` together with a non-leaf
    tensor upstream of it gets none for ``color`` (see ``_AntialiasFn``).
    """
    _checks.tensor("color", color, (4,))
    _checks.tensor("rast", rast, (4,), last=4)
    _checks.tensor("pos_clip", pos_clip, (2, 3), last=4)
    if tuple(color.shape[:3]) != tuple(rast.shape[:3]):
        raise ValueError(
            f"color must be [B, H, W, C] matching rast [B, H, W, 4]; got color {tuple(color.shape)}, "
            f"rast {tuple(rast.shape)}"
        )
    if pos_clip.dim() == 3 and pos_clip.shape[0] != rast.shape[0]:
        raise ValueError(f"pos_clip batch {pos_clip.shape[0]} does not match rast batch {rast.shape[0]}")
    for name, t in (("rast", rast), ("pos_clip", pos_clip)):
        _checks.same_dtype(name, t, "color", color)
        _checks.same_device(name, t, "color", color)
    _checks.same_device("faces", faces, "color", color)
    _checks.finite("pos_clip", pos_clip)
    nv = pos_clip.shape[-2]
    if topology is None:
        topology = edge_topology(faces, nv)
    else:
        _checks.faces(faces, nv)
        _checks.tensor("topology", topology, (2,), last=3, dtypes=(torch.int32,))
        if topology.shape != faces.shape:
            raise ValueError(f"topology must match faces {tuple(faces.shape)}, got {tuple(topology.shape)}")
        _checks.same_device("topology", topology, "faces", faces)
    ext = _eager_extension(color, rast, pos_clip, faces, topology)
    if ext is not None:
        spans = _marked(rast, _SPANS_ATTR)
        zero_outside = spans is not None and _marked(color, _ZERO_ATTR) is spans
        # color / rast untouched outputs of interpolate / rasterize of these very tensors?
        interp = _sources(color, _INTERP_SOURCE_ATTR) if zero_outside and torch.is_grad_enabled() else None
        src_attr, src_faces = (interp[0], interp[2]) if interp is not None and interp[1] is rast else (None, None)
        rasterized = _sources(rast, _RAST_SOURCE_ATTR)
        rast_fused = rasterized is not None and rasterized[0] is pos_clip and rasterized[1] is faces
        return _AntialiasFn.apply(
            ext, color, rast, pos_clip, faces, topology, spans, zero_outside, src_attr, src_faces, rast_fused
        )
    return _antialias_op(color, rast, pos_clip, faces, topology)
