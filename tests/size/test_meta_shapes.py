"""The size tracer's written-out meta outputs (``cnnlab.size.meta_shapes``) and its per-signature
op cache (``cnnlab.size.meta_ops``) against torch's own meta kernels, on random arguments:
the same shapes, strides, dtypes and storage sizes, and the same errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab.size.meta_ops import MetaOps
from cnnlab.size.meta_shapes import RULES

aten = torch.ops.aten
DTYPES = st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16])


def meta(shape, dtype=torch.float32, channels_last=False):
    t = torch.empty(shape, dtype=dtype, device="meta")
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


def layout(t):
    return tuple(t.shape), t.stride(), t.storage_offset(), t.dtype, t.untyped_storage().nbytes()


def same_as_kernel(op, args, kwargs=None):
    """The rule's outputs are laid out as the kernel's; False where the rule declines."""
    kwargs = kwargs or {}
    got = RULES[op](*args, **kwargs)
    try:
        want = op(*args, **kwargs)
    except (RuntimeError, ZeroDivisionError):
        assert got is None  # what the kernel refuses, the rule leaves to it
        return True
    if got is None:
        return False
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert [layout(t) for t in got] == [layout(t) for t in want]
    return True


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 5),
    spatial=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    training=st.booleans(),
    affine=st.booleans(),
    stats=st.booleans(),
    dtype=DTYPES,
    channels_last=st.booleans(),
)
def test_batch_norm_outputs_are_the_kernels(n, c, spatial, training, affine, stats, dtype, channels_last):
    assume(stats or training)  # eval mode needs running statistics
    x = meta((n, c, *spatial), dtype, channels_last and len(spatial) == 2)
    w, b = (meta((c,)), meta((c,))) if affine else (None, None)
    rm, rv = (meta((c,)), meta((c,))) if stats else (None, None)
    covered = same_as_kernel(aten.native_batch_norm.default, (x, w, b, rm, rv, training, 0.1, 1e-5))
    assert covered or (channels_last and len(spatial) == 2 and c > 1 and spatial != [1, 1])


@settings(max_examples=60, deadline=None)
@given(
    nd=st.integers(1, 3),
    data=st.data(),
    transposed=st.booleans(),
    groups=st.integers(1, 3),
    bias=st.booleans(),
    dtype=DTYPES,
)
def test_convolution_outputs_are_the_kernels(nd, data, transposed, groups, bias, dtype):
    ints = lambda lo, hi: data.draw(st.lists(st.integers(lo, hi), min_size=nd, max_size=nd))  # noqa: E731
    size, k, stride, padding, dilation = ints(1, 9), ints(1, 4), ints(1, 3), ints(0, 2), ints(1, 2)
    out_padding = ints(0, 2) if transposed else [0] * nd
    c_in, c_out = groups * data.draw(st.integers(1, 3)), groups * data.draw(st.integers(1, 3))
    x = meta((data.draw(st.integers(1, 2)), c_in, *size), dtype)
    w = meta((c_in, c_out // groups, *k) if transposed else (c_out, c_in // groups, *k), dtype)
    b = meta((c_out,), dtype) if bias else None
    args = (x, w, b, stride, padding, dilation, transposed, out_padding, groups)
    got = RULES[aten.convolution.default](*args)
    try:
        want = aten.convolution.default(*args)
    except RuntimeError:
        assert got is None  # what the kernel refuses, the rule leaves to it
        return
    assume(got is not None)
    assert layout(got) == layout(want)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 6), k=st.integers(1, 6), n=st.integers(1, 6), full_bias=st.booleans(), dtype=DTYPES)
def test_addmm_outputs_are_the_kernels(m, k, n, full_bias, dtype):
    bias = meta((m, n) if full_bias else (n,), dtype)
    a, b = meta((m, k), dtype), meta((n, k), dtype).t()  # F.linear's transposed weight
    assert same_as_kernel(aten.addmm.default, (bias, a, b))


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data(), keepdim=st.booleans(), dtype=DTYPES)
def test_mean_outputs_are_the_kernels(shape, data, keepdim, dtype):
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape)))
    assume(len({a % len(shape) for a in axes}) == len(axes))
    assert same_as_kernel(aten.mean.dim, (meta(shape, dtype), axes, keepdim))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
    count=st.integers(1, 4),
    dtype=DTYPES,
)
def test_cat_outputs_are_the_kernels(shape, data, count, dtype):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(count):
        s = list(shape)
        s[dim] = data.draw(st.integers(1, 4))
        parts.append(meta(s, dtype))
    assert same_as_kernel(aten.cat.default, (parts, dim))
    assert RULES[aten.cat.default]([meta((2, 3)), meta((3, 3))], 1) is None  # mismatched: the kernel's error


@settings(max_examples=60, deadline=None)
@given(
    lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    size=st.lists(st.integers(1, 12), min_size=2, max_size=2),
    k=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    s=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    ceil_mode=st.booleans(),
    dtype=DTYPES,
)
def test_max_pool_outputs_are_the_kernels(lead, size, k, s, p, d, ceil_mode, dtype):
    x = meta((*lead, *size), dtype)
    covered = same_as_kernel(aten.max_pool2d_with_indices.default, (x, k, s, [p], [d], ceil_mode))
    assert covered or (len(lead) == 2 and x.is_contiguous(memory_format=torch.channels_last))


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=4), dtype=DTYPES)
def test_relu_outputs_are_the_kernels(shape, dtype):
    x = meta(shape, dtype)
    assert same_as_kernel(aten.relu.default, (x,))
    assert RULES[aten.relu_.default](x) is x is aten.relu_.default(x)


def test_add_in_place_is_its_input_and_odd_cases_go_to_the_kernel():
    x = meta((2, 3, 4))
    assert RULES[aten.add_.Tensor](x, meta((2, 3, 4))) is x
    counter = torch.empty((), dtype=torch.int64, device="meta")
    assert RULES[aten.add_.Tensor](counter, torch.empty((), dtype=torch.int64, device="meta")) is counter
    assert RULES[aten.add_.Tensor](x, meta((3, 4))) is None  # a broadcast: the kernel checks it
    assert RULES[aten.add_.Tensor](x, x[0]) is None  # a partial overlap: the kernel refuses it
    assert RULES[aten.add_.Tensor](x, meta((2, 3, 4), torch.float64)) is None  # type promotion


def test_cached_ops_make_what_the_kernels_make():
    ops = MetaOps()
    x, w = meta((2, 3, 8, 8)), meta((4, 3, 3, 3))
    calls = [
        (aten.convolution.default, (x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1), {}),
        (aten.max_pool2d_with_indices.default, (x, [2, 2], [2, 2]), {}),  # no rule: the kernel, then the cache
        (aten.relu_.default, (x,), {}),
        (aten.sum.dim_IntList, (x, [1]), {"keepdim": True}),
        (aten.cat.default, ([x, x], 1), {}),
    ]
    for op, args, kwargs in calls:
        first, fresh = ops.run(op, args, kwargs)
        assert fresh is None  # the first call of a signature runs the kernel (or its rule)
        again, fresh = ops.run(op, args, kwargs)
        want = op(*args, **kwargs)
        pairs = list(zip(again, want)) if isinstance(want, tuple) else [(again, want)]
        for got, ref in pairs:
            assert layout(got) == layout(ref)
            assert (got is x) == (ref is x)  # in-place: the input itself
        assert [n for _, n in fresh] == [t.untyped_storage().nbytes() for t, _ in pairs if t is not x]


def test_views_and_shape_changes_always_run_the_kernel():
    ops = MetaOps()
    x = meta((4, 6))
    for _ in range(2):
        v, fresh = ops.run(aten.view.default, (x, [6, 4]), {})
        assert fresh is None and v.untyped_storage()._cdata == x.untyped_storage()._cdata
    y = meta((2, 2))
    for _ in range(2):
        y = meta((2, 2))
        out, fresh = ops.run(aten.resize_.default, (y, [3, 3]), {})
        assert fresh is None and out is y and y.shape == (3, 3)


def test_an_op_the_kernel_refuses_is_refused_every_time():
    ops = MetaOps()
    x, w = meta((1, 3, 8, 8)), meta((4, 5, 3, 3))  # 5 input channels expected, 3 given
    for _ in range(2):
        with pytest.raises(RuntimeError):
            ops.run(aten.convolution.default, (x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {})
