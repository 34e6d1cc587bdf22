"""Training configuration: one pydantic model, validated before anything is allocated.

Defaults follow Keras where a Keras user would notice (optimizer learning rates and epsilons,
RMSprop's rho, Adagrad's initial accumulator, EarlyStopping's patience 0); ``weight_decay`` has
PyTorch's meaning (L2 added to the gradient, decoupled for AdamW). Unknown keys are errors, so a
misspelt option never silently does nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..jobs.devices import DEFAULT_NPROC_PER_NODE
from ..jobs.queues import QUEUE_PATTERN

OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]

# Keras 3's default learning rate per optimizer.
DEFAULT_LEARNING_RATES: dict[str, float] = {
    "sgd": 0.01, "adam": 0.001, "adamw": 0.001, "rmsprop": 0.001, "adagrad": 0.001,
}


class ConfigError(ValueError):
    """The config asks for something this machine or this call cannot do (e.g. CUDA where there is none)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimizerConfig(_Strict):
    name: OptimizerName = Field("adam", description="Optimizer: sgd, adam, adamw, rmsprop or adagrad.")
    lr: float | None = Field(
        None, gt=0, le=1e40, description="Learning rate; default is Keras's for the optimizer (0.01 for sgd, else 0.001).",
    )
    weight_decay: float | None = Field(
        None, ge=0, le=1e6,
        description="PyTorch semantics: L2 on the gradient (decoupled for adamw). "
                    "Default 0, and 0.004 for adamw as in Keras.",
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum (sgd, rmsprop).")
    nesterov: bool = Field(False, description="Nesterov momentum (sgd; needs momentum > 0).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam/AdamW beta_1 and beta_2.")
    eps: float = Field(1e-7, gt=0, le=1, description="Numerical-stability epsilon (Keras's 1e-7 default).")
    amsgrad: bool = Field(False, description="AMSGrad variant (adam, adamw).")
    rho: float = Field(0.9, gt=0, lt=1, description="RMSprop's discounting factor (PyTorch calls it alpha).")
    centered: bool = Field(False, description="Centered RMSprop.")
    initial_accumulator_value: float = Field(0.1, ge=0, description="Adagrad's starting accumulator (Keras: 0.1).")

    @model_validator(mode="after")
    def _check(self) -> "OptimizerConfig":
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer 'sgd' with momentum > 0")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError("betas must both be in [0, 1)")
        return self

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LEARNING_RATES[self.name]


class ScheduleConfig(_Strict):
    """Learning-rate schedule, stepped once per epoch."""

    name: Literal["none", "step", "cosine", "reduce_on_plateau"] = "none"
    step_size: int = Field(10, ge=1, le=100_000, description="step: multiply the rate by gamma every step_size epochs.")
    gamma: float = Field(0.1, gt=0, le=1, description="step: the factor applied every step_size epochs.")
    min_lr: float = Field(0.0, ge=0, description="cosine: the final rate; reduce_on_plateau: the lowest rate.")
    monitor: str = Field("val_loss", description="reduce_on_plateau: the quantity watched, e.g. val_loss.")
    mode: Literal["auto", "min", "max"] = "auto"
    factor: float = Field(0.1, gt=0, lt=1, description="reduce_on_plateau: the factor applied on a plateau.")
    patience: int = Field(10, ge=0, le=100_000, description="reduce_on_plateau: epochs without improvement before reducing.")
    min_delta: float = Field(1e-4, ge=0, description="reduce_on_plateau: the smallest change that counts as improvement.")


class EarlyStoppingConfig(_Strict):
    monitor: str = Field("val_loss", description="The quantity watched, e.g. val_loss or val_y/accuracy.")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: max for accuracy, auc and r2, min otherwise.")
    patience: int = Field(0, ge=0, le=100_000, description="Epochs without improvement before stopping (Keras's default 0).")
    min_delta: float = Field(0.0, ge=0, description="The smallest change that counts as improvement.")
    restore_best_weights: bool = Field(
        False, description="End with the weights of the best epoch (whether or not training stopped early).",
    )


class DistributedConfig(_Strict):
    nproc_per_node: int = Field(DEFAULT_NPROC_PER_NODE, ge=1, le=64,
                                description="Processes on each node (one per GPU on CUDA).")
    nnodes: int = Field(1, ge=1, le=1024, description="Nodes; more than 1 needs the operator's rendezvous "
                                                       "address (LAYERLOOM_RDZV_ENDPOINT, docs/deploy.md).")


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=1_000_000)
    eval_batch_size: int | None = Field(
        None, ge=1, le=1_000_000, description="Batch size for validation and test; default max(batch_size, 256).",
    )
    shuffle: bool = True
    seed: int = Field(0, ge=0, lt=2**63, description="Same seed and data give the same result (on CPU).")
    validation_split: float = Field(
        0.0, ge=0, lt=1,
        description="Fraction of train held out for validation (stratified, deterministic); "
                    "replaces the dataset's own valid split.",
    )
    standardize: bool = Field(
        False,
        description="Standardize the float feature vectors fed to Inputs: (x - mean) / std per feature, with the "
                    "mean and std of the training split (after validation_split). Applied in training, evaluation, "
                    "prediction and exports (the run's graph gets a fixed Normalization after each such Input; the "
                    "manifest records the statistics). The other way: a Normalization layer in the graph.",
    )
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    early_stopping: EarlyStoppingConfig | None = None
    grad_clip_norm: float | None = Field(None, gt=0, description="Clip the global gradient norm to this value.")
    grad_clip_value: float | None = Field(None, gt=0, description="Clip every gradient element to [-value, value].")
    loss_weights: dict[str, float] = Field(
        default_factory=dict, description="Per-head loss weights overriding the graph's.",
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Input or head node id -> dataset array name, where they differ.",
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto: CUDA when available.")
    queue: str | None = Field(
        None, pattern=QUEUE_PATTERN,
        description="The worker queue the job goes to (a worker's --queues). Default: 'gpu' when device is "
                    "cuda, else 'default'.",
    )
    amp: bool = Field(False, description="Automatic mixed precision (CUDA only; ignored with a log message on CPU).")
    amp_dtype: Literal["float16", "bfloat16"] = Field(
        "float16", description="Autocast dtype: float16 (with loss scaling) or bfloat16 on CUDA; bfloat16 also on the CPU.",
    )
    channels_last: bool | None = Field(
        None, description="The channels_last memory format for 4-D tensors. Default: on CUDA for graphs with 2-D "
                          "convolutions.",
    )
    compile: bool = Field(
        False, description="torch.compile the model (compiled on the first step; a failure falls back to eager "
                           "with a log message).",
    )
    log_every_steps: int | None = Field(
        None, ge=1, le=1_000_000_000,
        description="Emit a step event every this many steps. Default: every steps_per_epoch // 20 steps, "
                    "but at most one per 0.5 s (so short epochs report by epoch only), plus one as soon as the run's "
                    "first step is done.",
    )
    evaluate_test: bool = Field(True, description="Evaluate on the test split (when the dataset has one) at the end.")
    tensorboard: bool = Field(
        False, description="Also write TensorBoard event files (per-epoch scalars) to <run dir>/tensorboard.",
    )
    distributed: DistributedConfig | None = Field(
        None, description="Data-parallel training under torchrun (DDP; gloo on CPU, NCCL on CUDA): every "
                          "process takes its share of each batch_size batch.",
    )
    data_loading: Literal["auto", "memory", "stream"] = Field(
        "auto",
        description="memory: decode every split once and batch by slicing; stream: DataLoader workers read "
                    "batches from the archive, folder or memory-mapped arrays; auto: memory when the decoded "
                    "splits fit the runner's budget (LAYERLOOM_DATA_MEMORY_BUDGET_MB), else stream.",
    )
    data_workers: int | None = Field(
        None, ge=0, le=32,
        description="DataLoader worker processes when streaming (0: read in the training process). "
                    "Default: CPU cores - 1, from 1 to 4.",
    )
    init_weights: str | None = Field(
        None, pattern=r"^[0-9a-f]{32}$",
        description="Start from imported weights: the weights_id of POST /api/graphs/import (loaded strictly).",
    )

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        bad = sorted(k for k, w in self.loss_weights.items() if not 0 <= w <= 1e6)
        if bad:
            raise ValueError(f"loss_weights must be between 0 and 1e6 (check {', '.join(bad)})")
        return self

    @property
    def effective_eval_batch_size(self) -> int:
        return self.eval_batch_size or max(self.batch_size, 256)
