"""One training step captured as a CUDA graph: batch gather, preprocessing, forward, loss,
backward and the optimizer's update replayed with a single launch. Small models on a GPU are
bound by kernel launches (a batch-32 MLP ran slower on an H100 than on 2 CPU cores); a graph
removes the per-kernel launch cost. Behind `train.cuda_graphs` and a capability check: CUDA,
data on the device (not streaming), rmsprop or plain sgd (their updates hold no step-dependent
Python numbers), a fixed batch size (the last, smaller batch of an epoch runs eagerly).

Written without a GPU to run it on (see the issue notes): the CPU suite checks the decision and
the eager fallback only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def graph_unsupported(trainee: Any) -> str | None:
    """Why this trainee's step cannot be captured (None: it can)."""
    setup, opt = trainee.setup, trainee.opt
    if setup.device.type != "cuda" or not torch.cuda.is_available():
        return "CUDA graphs need a CUDA device"
    if torch.cuda.get_device_capability(setup.device) < (7, 0):
        return "CUDA graphs need a GPU of compute capability 7.0 or newer"
    if trainee.data.streams:
        return "the data streams from host memory"
    if any(getattr(m, "generator", None) is not None for m in trainee.net.modules()):
        # A captured graph would replay the generator's state of the capture: the same masks
        # every step. (torch's graphs advance only the default generator.)
        return "dropout draws its masks from the training's own generator"
    if setup.lr_schedule is not None:
        return "a learning-rate schedule changes the rate a captured step would keep"
    if opt.kind not in ("rmsprop", "sgd") or (opt.kind == "sgd" and opt.momentum):
        return f"{opt.kind}{' with momentum' if opt.momentum else ''} updates depend on the step count"
    return None


class GraphStep:
    """Replays a captured step for full batches of a fixed size."""

    def __init__(self, trainee: Any, penalised: bool) -> None:
        self.trainee = trainee
        data, setup = trainee.data, trainee.setup
        b, dev = setup.batch_size, setup.device
        self.idx = torch.zeros(b, dtype=torch.long, device=dev)
        self.loss = torch.zeros((), device=dev)
        self.logits: torch.Tensor | None = None
        net, opt = trainee.net, trainee.opt
        norm = None if data.norm.identity else data.norm
        amp = trainee.amp_context

        def body() -> None:
            opt.zero_grad()
            xb = data.x[self.idx]
            xb = xb if norm is None else norm(xb)
            with amp():
                out = net.body(xb)
                loss = setup.loss.mean(out, data.y[self.idx], net.head)
                total = loss + net.penalty() if penalised else loss
            total.backward()
            opt.step()
            self.loss.copy_(loss.detach())
            if self.logits is None:
                self.logits = torch.empty_like(out.detach(), dtype=torch.float32)
            self.logits.copy_(out.detach())

        self.graph = self._capture(body, trainee)

    @staticmethod
    def _capture(body: Callable[[], None], trainee: Any) -> torch.cuda.CUDAGraph:
        """Warm up on a side stream (as torch's docs require), put weights and optimizer state
        back, then record the step."""
        kept = _state(trainee)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                body()
        torch.cuda.current_stream().wait_stream(side)
        _restore(trainee, kept)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        _restore(trainee, kept)  # recording ran nothing, but be exact about the state
        return graph

    def run(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.idx.copy_(idx)
        self.graph.replay()
        assert self.logits is not None
        return self.loss.clone(), self.logits.clone()


def _state(trainee: Any) -> dict[str, torch.Tensor]:
    opt = trainee.opt
    kept = {f"net.{k}": v.detach().clone() for k, v in trainee.net.state_dict().items()}
    for name in ("square_avg", "buf", "exp_avg", "exp_avg_sq"):
        value = getattr(opt, name, None)
        if isinstance(value, torch.Tensor):
            kept[f"opt.{name}"] = value.clone()
    kept["step"] = torch.tensor(opt.step_count)
    return kept


@torch.no_grad()
def _restore(trainee: Any, kept: dict[str, torch.Tensor]) -> None:
    state = trainee.net.state_dict()
    for k, v in kept.items():
        if k.startswith("net."):
            state[k[4:]].copy_(v)
        elif k.startswith("opt."):
            getattr(trainee.opt, k[4:]).copy_(v)
    trainee.opt.step_count = int(kept["step"])
