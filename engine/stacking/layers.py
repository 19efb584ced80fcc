"""Stacked versions of the layers: K models' parameters along a leading member axis, inputs
(K, B, ...). Each module builds from the K sequential modules it replaces, gives member i's
parameters back in that module's own state-dict names (`unstack`), takes them back (`restore`),
and says which member owns each parameter element (`member_ids`) for per-member settings and
L1/L2 terms. A member's numbers equal its sequential training up to float rounding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model.modules import BatchNormLast, ChannelsSecond, MeanOver, OnChannels, PerStep, PReLU, Recurrent

State = dict[str, torch.Tensor]


def leading_ids(p: torch.Tensor, members: int) -> torch.Tensor:
    """Members own contiguous blocks along a parameter's first axis (the usual layout)."""
    per = p.shape[0] // members
    ids = torch.arange(p.shape[0], device=p.device) // per
    return ids.reshape(-1, *([1] * (p.dim() - 1))).expand(p.shape).reshape(-1)


class Stacked(nn.Module):
    members: int

    def unstack(self, i: int) -> State:
        return {}

    def restore(self, i: int, state: State) -> None:
        pass

    def member_ids(self, name: str, p: torch.Tensor) -> torch.Tensor:
        return leading_ids(p, self.members)


class SLinear(Stacked):
    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.members = len(layers)
        self.weight = nn.Parameter(torch.stack([m.weight.detach().t() for m in layers]))
        b = [m.bias.detach() if m.bias is not None else torch.zeros(m.out_features) for m in layers]
        self.bias = nn.Parameter(torch.stack(b)[:, None, :], requires_grad=layers[0].bias is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return torch.baddbmm(self.bias, x, self.weight)
        shape = x.shape
        flat = x.reshape(shape[0], -1, shape[-1])
        return torch.baddbmm(self.bias, flat, self.weight).reshape(*shape[:-1], -1)

    def unstack(self, i: int) -> State:
        return {"weight": self.weight[i].t(), "bias": self.bias[i, 0]}

    def restore(self, i: int, state: State) -> None:
        self.weight[i] = state["weight"].t()
        self.bias[i, 0] = state["bias"]


class SConv(Stacked):
    """K 2D or 3D convolutions as one grouped convolution over (B, K*C, ...)."""

    def __init__(self, layers: list[nn.Conv2d] | list[nn.Conv3d]) -> None:
        super().__init__()
        m = layers[0]
        self.members, self.stride, self.padding = len(layers), m.stride, m.padding
        self.conv = F.conv2d if isinstance(m, nn.Conv2d) else F.conv3d
        self.weight = nn.Parameter(torch.cat([c.weight.detach() for c in layers]))
        self.bias = nn.Parameter(torch.cat([c.bias.detach() for c in layers]))  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b, c = x.shape[:3]
        y = self.conv(x.transpose(0, 1).reshape(b, k * c, *x.shape[3:]), self.weight, self.bias,
                      self.stride, self.padding, groups=k)
        return y.reshape(b, k, -1, *y.shape[2:]).transpose(0, 1)

    def _rows(self, i: int) -> slice:
        f = self.weight.shape[0] // self.members
        return slice(i * f, (i + 1) * f)

    def unstack(self, i: int) -> State:
        return {"weight": self.weight[self._rows(i)], "bias": self.bias[self._rows(i)]}

    def restore(self, i: int, state: State) -> None:
        self.weight[self._rows(i)] = state["weight"]
        self.bias[self._rows(i)] = state["bias"]


class SEmbedding(Stacked):
    """K lookup tables (K, V, D); token ids (K, B, T) look up their own member's table."""

    def __init__(self, layers: list[nn.Embedding]) -> None:
        super().__init__()
        self.members = len(layers)
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        k = torch.arange(self.members, device=ids.device).reshape(-1, *([1] * (ids.dim() - 1)))
        return self.weight[k, ids]

    def unstack(self, i: int) -> State:
        return {"weight": self.weight[i]}

    def restore(self, i: int, state: State) -> None:
        self.weight[i] = state["weight"]


class SPReLU(Stacked):
    """Keras's PReLU (a slope per input element) for K members: slopes (K, ...) against inputs
    (K, B, ...)."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.members = len(layers)
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, self.weight.unsqueeze(1) * x)

    def unstack(self, i: int) -> State:
        return {"weight": self.weight[i]}

    def restore(self, i: int, state: State) -> None:
        self.weight[i] = state["weight"]


class SBatchNorm(Stacked):
    """K batch norms as one over K*C channels: each member's channels see only its own batch,
    so its statistics (and running averages) are its own. `last`: features on the last axis
    (dltui's BatchNorm on sequences), else on the axis after the batch."""

    def __init__(self, layers: list[nn.modules.batchnorm._BatchNorm], last: bool = False) -> None:
        super().__init__()
        m = layers[0]
        self.members, self.last, self.c = len(layers), last, m.num_features
        self.bn = type(m)(self.members * m.num_features, eps=m.eps, momentum=m.momentum,
                          device=m.weight.device)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(self.bn, name).copy_(torch.cat([getattr(b, name) for b in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.last:  # (K, B, T, F) -> (B, K*F, T)
            k, b, t, f = x.shape
            y = self.bn(x.permute(1, 0, 3, 2).reshape(b, k * f, t))
            return y.reshape(b, k, f, t).permute(1, 0, 3, 2)
        k, b = x.shape[:2]
        y = self.bn(x.transpose(0, 1).reshape(b, k * x.shape[2], *x.shape[3:]))
        return y.reshape(b, k, *x.shape[2:]).transpose(0, 1)

    def _rows(self, i: int) -> slice:
        return slice(i * self.c, (i + 1) * self.c)

    def unstack(self, i: int) -> State:
        prefix = "bn." if self.last else ""
        out = {f"{prefix}{n}": getattr(self.bn, n)[self._rows(i)]
               for n in ("weight", "bias", "running_mean", "running_var")}
        out[f"{prefix}num_batches_tracked"] = self.bn.num_batches_tracked
        return out

    def restore(self, i: int, state: State) -> None:
        prefix = "bn." if self.last else ""
        for n in ("weight", "bias", "running_mean", "running_var"):
            getattr(self.bn, n)[self._rows(i)] = state[f"{prefix}{n}"]
        self.bn.num_batches_tracked.copy_(state[f"{prefix}num_batches_tracked"])


class SRecurrent(Stacked):
    """K LSTMs or GRUs as one whose weights are block-diagonal: member i's inputs and hidden
    units meet only member i's weights. The blocks between members start at zero and their
    gradients are masked to zero, so they stay zero under every optimizer dltui has (an update
    of a zero gradient with zero state is zero). K times the arithmetic of one member, but one
    fused recurrent kernel instead of K: small recurrent models are bound by kernel launches."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        first = layers[0]
        rnn0: nn.RNNBase = first.rnn  # type: ignore[assignment]
        self.members, self.return_sequences = len(layers), first.return_sequences  # type: ignore[assignment]
        self.h, self.f = rnn0.hidden_size, rnn0.input_size
        self.gates = {"LSTM": 4, "GRU": 3}[rnn0.mode]
        self.dirs = 2 if rnn0.bidirectional else 1
        k = self.members
        self.rnn = type(rnn0)(k * self.f, k * self.h, batch_first=True,
                              bidirectional=rnn0.bidirectional, device=rnn0.weight_ih_l0.device)
        self.masks: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for name, p in self.rnn.named_parameters():
                p.zero_()
                for i, layer in enumerate(layers):
                    block = self._block(p, name, i)
                    block.copy_(getattr(layer.rnn, name).reshape(block.shape))
                mask = torch.zeros_like(p, dtype=torch.bool)
                for i in range(k):
                    self._block(mask, name, i).fill_(True)
                self.masks[name] = mask
                p.register_hook(lambda g, m=mask: g * m)

    def _block(self, t: torch.Tensor, name: str, i: int) -> torch.Tensor:
        """Member i's part of a stacked parameter, as a (gates, h, ...) view."""
        h, k = self.h, self.members
        g = t.reshape(self.gates, k * h, *t.shape[1:])[:, i * h:(i + 1) * h]
        if name.startswith("bias"):
            return g
        width = self.f if name.startswith("weight_ih") else h
        return g[..., i * width:(i + 1) * width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b, t, f = x.shape
        out, state = self.rnn(x.permute(1, 2, 0, 3).reshape(b, t, k * f))
        if self.return_sequences:  # (B, T, dirs*K*H) -> (K, B, T, dirs*H)
            return out.reshape(b, t, self.dirs, k, self.h).permute(3, 0, 1, 2, 4).reshape(
                k, b, t, self.dirs * self.h)
        hidden = state[0] if isinstance(state, tuple) else state  # (dirs, B, K*H)
        return hidden.reshape(self.dirs, b, k, self.h).permute(2, 1, 0, 3).reshape(
            k, b, self.dirs * self.h)

    def unstack(self, i: int) -> State:
        out = {}
        for name, p in self.rnn.named_parameters():
            block = self._block(p, name, i)
            out[f"rnn.{name}"] = block.reshape(-1, *block.shape[2:])
        return out

    def restore(self, i: int, state: State) -> None:
        for name, p in self.rnn.named_parameters():
            block = self._block(p, name, i)
            block.copy_(state[f"rnn.{name}"].reshape(block.shape))

    def member_ids(self, name: str, p: torch.Tensor) -> torch.Tensor:
        # Rows of each gate belong to members in blocks of h (the blocks off the diagonal are
        # always zero: any owner will do).
        local = name.split(".")[-1]
        ids = torch.arange(self.members, device=p.device).repeat_interleave(self.h)
        ids = ids.repeat(self.gates)
        if local.startswith("bias"):
            return ids
        return ids[:, None].expand(p.shape).reshape(-1)


class SPerSample(nn.Module):
    """A parameter-free module that wants (N, ...) inputs: fold K into the batch axis."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x.reshape(-1, *x.shape[2:]))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class SDropout(nn.Module):
    """Dropout for K stacked members (inputs (K, B, ...)), each with its own rate and its own
    generator: member k's mask is drawn for its real rows only, from its generator, in the order
    its sequential training would draw it, so stacked dropout equals sequential dropout. The
    trainee sets `generators` once and `rows`/`batch` (each member's real rows in this batch, the
    padded batch size) before each training step."""

    def __init__(self, rates: list[float]) -> None:
        super().__init__()
        self.register_buffer("rates", torch.tensor(rates))
        # 1 - p in double, then float32: exactly the divisor a sequential MemberDropout uses
        self.register_buffer("keep_scale", torch.tensor([1 - r for r in rates]))
        self.p = list(rates)
        self.generators: list[torch.Generator] | None = None
        self.rows: list[int] | None = None
        self.batch = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.generators is None or self.rows is None:  # outside a dltui training
            p = self.rates.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)
            return x * (torch.rand_like(x) >= p) / (1 - p)
        keep = torch.ones_like(x)
        per_row = x.shape[1] // self.batch  # TimeDistributed: (K, B*T, ...)
        for k, (rate, gen, rows) in enumerate(zip(self.p, self.generators, self.rows, strict=True)):
            if rate:
                keep[k, :rows * per_row].bernoulli_(1 - rate, generator=gen)
        return x * keep / self.keep_scale.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


class SSequential(Stacked):
    """Stacked modules in order; member i's state under the sequential indices ("0.weight")."""

    def __init__(self, mods: list[nn.Module], members: int) -> None:
        super().__init__()
        self.members = members
        self.mods = nn.ModuleList(mods)
        # Called directly: skipping nn.Module.__call__ per layer matters at small sizes.
        self._steps = [m.forward for m in mods]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self._steps:
            x = step(x)
        return x

    def __getitem__(self, j: int) -> nn.Module:
        return self.mods[j]

    def __len__(self) -> int:
        return len(self.mods)

    def unstack(self, i: int) -> State:
        return {f"{j}.{k}": v for j, m in enumerate(self.mods) if isinstance(m, Stacked)
                for k, v in m.unstack(i).items()}

    def restore(self, i: int, state: State) -> None:
        for j, m in enumerate(self.mods):
            if isinstance(m, Stacked):
                prefix = f"{j}."
                m.restore(i, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


class SWrapped(Stacked):
    """A stacked module inside dltui's shape adapters: per timestep (TimeDistributed), with
    channels before time (Conv3D) or on the channels axis (a Dense on images, `dim` counting the
    sequential batch axis); member i's state keeps the adapter's `inner.` prefix."""

    def __init__(self, inner: Stacked, how: str, dim: int = 0) -> None:
        super().__init__()
        self.inner, self.how, self.members, self.dim = inner, how, inner.members, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "on_channels":  # the member axis comes first: one more than sequential
            return self.inner(x.movedim(self.dim + 1, -1)).movedim(-1, self.dim + 1)
        if self.how == "per_step":  # (K, B, T, ...) -> (K, B*T, ...) and back
            k, b, t = x.shape[:3]
            y = self.inner(x.reshape(k, b * t, *x.shape[3:]))
            return y.reshape(k, b, t, *y.shape[2:])
        return self.inner(x.transpose(2, 3)).transpose(2, 3)  # (K, B, T, C, ...) <-> (K, B, C, T, ...)

    def unstack(self, i: int) -> State:
        return {f"inner.{k}": v for k, v in self.inner.unstack(i).items()}

    def restore(self, i: int, state: State) -> None:
        self.inner.restore(i, {k[len("inner."):]: v for k, v in state.items()})


def why_not_stacked(module: nn.Module) -> str | None:
    """What `stack_group` would refuse for this module, decided from its kind alone: stacking
    real tensors to find out would run torch's meta-tensor references, which import
    `torch._dynamo` (0.8 s of a stacked run's start-up)."""
    if isinstance(module, OnChannels) or (
            isinstance(module, ChannelsSecond) and any(True for _ in module.parameters())):
        return why_not_stacked(module.inner)  # type: ignore[arg-type]
    if isinstance(module, PerStep):
        return next(filter(None, map(why_not_stacked, module.inner)), None)  # type: ignore[attr-defined]
    stacked = (nn.Linear, nn.Conv2d, nn.Conv3d, nn.Embedding, PReLU, BatchNormLast,
               nn.modules.batchnorm._BatchNorm, Recurrent, nn.Dropout)
    if not isinstance(module, stacked) and any(True for _ in module.parameters()):
        return f"{type(module).__name__} has no stacked version"
    return None


def stack_group(group: list[nn.Module]) -> nn.Module:
    """The stacked version of K sequential modules of one kind, or ValueError when it has none."""

    first, k = group[0], len(group)
    if isinstance(first, nn.Linear):
        return SLinear(group)  # type: ignore[arg-type]
    if isinstance(first, nn.Conv2d | nn.Conv3d):
        return SConv(group)  # type: ignore[arg-type]
    if isinstance(first, nn.Embedding):
        return SEmbedding(group)  # type: ignore[arg-type]
    if isinstance(first, PReLU):
        return SPReLU(group)
    if isinstance(first, OnChannels):
        return SWrapped(stack_group([m.inner for m in group]), "on_channels", first.dim)  # type: ignore[arg-type,misc]
    if isinstance(first, BatchNormLast):
        return SBatchNorm([m.bn for m in group], last=True)  # type: ignore[misc]
    if isinstance(first, nn.modules.batchnorm._BatchNorm):
        return SBatchNorm(group)  # type: ignore[arg-type]
    if isinstance(first, Recurrent):
        return SRecurrent(group)
    if isinstance(first, PerStep):
        inner = [stack_group(list(g)) for g in zip(*[m.inner for m in group], strict=True)]  # type: ignore[attr-defined]
        return SWrapped(SSequential(inner, k), "per_step")
    if isinstance(first, ChannelsSecond) and any(True for _ in first.parameters()):
        return SWrapped(stack_group([m.inner for m in group]), "channels_second")  # type: ignore[arg-type]
    if isinstance(first, nn.Dropout):
        return SDropout([m.p for m in group])  # type: ignore[attr-defined]
    if any(True for _ in first.parameters()):
        raise ValueError(f"{type(first).__name__} has no stacked version")
    if isinstance(first, nn.MaxPool2d | nn.Flatten | MeanOver | ChannelsSecond):
        return SPerSample(first)
    return first  # elementwise (activations): each member's values are its own
