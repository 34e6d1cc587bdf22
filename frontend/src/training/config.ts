/** The setup form as a TrainConfig (backend/layerloom/train/config.py), with the form's own problems
 * (empty or non-numeric fields) by field; defaults are left out so the server's apply. */

import type { SetupForm } from "./ui";

/** The share of train held out for validation when a dataset brings neither a valid nor a test split,
 * so that validation curves and results are never computed on training rows by default. */
export const DEFAULT_HOLDOUT = "0.2";

/** The validation split the setup starts with for a dataset of these split sizes. */
export function defaultValidationSplit(sizes: Record<string, number> | undefined): string {
  const heldOut = (sizes?.valid ?? 0) > 0 || (sizes?.test ?? 0) > 0;
  return heldOut ? "0" : DEFAULT_HOLDOUT;
}

/** Whether the setup starts with feature standardization for a dataset of this kind: on for CSV uploads,
 * whose columns come in the units they were measured in (the wine data spans 0.1 to 1,680); off for the
 * built-ins (already scaled) and for NPZ and images (prepared by their owner, or images in 0..1). */
export function defaultStandardize(kind: string | undefined): boolean {
  return kind === "csv";
}

export function buildConfig(f: SetupForm, heads: string[]): { config: Record<string, unknown>; problems: Record<string, string> } {
  const problems: Record<string, string> = {};
  const num = (field: string, v: string, opts: { int?: boolean; min?: number; max?: number; optional?: boolean; exclusiveMax?: boolean } = {}): number | undefined => {
    const t = v.trim();
    if (!t) {
      if (!opts.optional) problems[field] = "Required.";
      return undefined;
    }
    const n = Number(t);
    if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n))) problems[field] = opts.int ? "A whole number." : "A number.";
    else if (opts.min !== undefined && n < opts.min) problems[field] = `At least ${opts.min}.`;
    else if (opts.max !== undefined && (opts.exclusiveMax ? n >= opts.max : n > opts.max)) problems[field] = `${opts.exclusiveMax ? "Below" : "At most"} ${opts.max}.`;
    return n;
  };
  const config: Record<string, unknown> = {
    epochs: num("epochs", f.epochs, { int: true, min: 1 }),
    batch_size: num("batch_size", f.batchSize, { int: true, min: 1 }),
    shuffle: f.shuffle,
    seed: num("seed", f.seed, { int: true, min: 0 }),
  };
  const vs = num("validation_split", f.validationSplit, { min: 0, max: 1, exclusiveMax: true, optional: true });
  if (vs) config.validation_split = vs;
  const optimizer: Record<string, unknown> = { name: f.optimizer };
  const lr = num("optimizer.lr", f.lr, { min: 0, optional: true });
  if (lr !== undefined) optimizer.lr = lr;
  if (f.optimizer === "sgd" || f.optimizer === "rmsprop") {
    const m = num("optimizer.momentum", f.momentum, { min: 0, max: 1, exclusiveMax: true, optional: true });
    if (m) optimizer.momentum = m;
    if (f.optimizer === "sgd" && f.nesterov) optimizer.nesterov = true;
  }
  const wd = num("optimizer.weight_decay", f.weightDecay, { min: 0, optional: true });
  if (wd !== undefined) optimizer.weight_decay = wd;
  config.optimizer = optimizer;
  if (f.schedule !== "none") {
    const s: Record<string, unknown> = { name: f.schedule };
    if (f.schedule === "step") {
      s.step_size = num("schedule.step_size", f.stepSize, { int: true, min: 1 });
      s.gamma = num("schedule.gamma", f.gamma, { min: 0, max: 1 });
    } else if (f.schedule === "cosine") {
      s.min_lr = num("schedule.min_lr", f.minLr, { min: 0 });
    } else {
      s.factor = num("schedule.factor", f.factor, { min: 0, max: 1, exclusiveMax: true });
      s.patience = num("schedule.patience", f.plateauPatience, { int: true, min: 0 });
      s.monitor = f.esMonitor || "val_loss";
    }
    config.schedule = s;
  }
  if (f.earlyStopping) {
    config.early_stopping = {
      monitor: f.esMonitor.trim() || "val_loss",
      patience: num("early_stopping.patience", f.esPatience, { int: true, min: 0 }),
      min_delta: num("early_stopping.min_delta", f.esMinDelta, { min: 0 }),
      restore_best_weights: f.esRestore,
    };
  }
  const clip = num("grad_clip_norm", f.gradClip, { min: 0, optional: true });
  if (clip) config.grad_clip_norm = clip;
  const weights: Record<string, number> = {};
  for (const h of heads) {
    const w = num(`loss_weights.${h}`, f.lossWeights[h] ?? "", { min: 0, optional: true });
    if (w !== undefined) weights[h] = w;
  }
  if (Object.keys(weights).length) config.loss_weights = weights;
  const every = num("log_every_steps", f.logEverySteps, { int: true, min: 1, optional: true });
  if (every) config.log_every_steps = every;
  if (f.tensorboard) config.tensorboard = true;
  if (f.standardize) config.standardize = true;
  if (f.device !== "auto") config.device = f.device;
  if (f.precision !== "float32") {
    config.amp = true;
    config.amp_dtype = f.precision;
  }
  if (f.compile) config.compile = true;
  if (f.dataLoading !== "auto") config.data_loading = f.dataLoading;
  const processes = num("distributed.nproc_per_node", f.processes, { int: true, min: 1, max: 64, optional: true });
  if (processes !== undefined && processes > 1) config.distributed = { nproc_per_node: processes, nnodes: 1 };
  return { config, problems };
}
