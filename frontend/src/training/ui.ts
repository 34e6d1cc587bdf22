/** Where the training screens are (closed, setup, a run, the jobs list) and the setup form, kept
 * while the user moves between the editor and the training screens. */

import { create } from "zustand";
import type { XAxis } from "./events";
import { toggleRun } from "./runs";

export type TrainingView = "setup" | "run" | "jobs" | "datasets" | null;

export interface SetupForm {
  dataset: string;
  mapping: Record<string, string>;
  optimizer: "sgd" | "adam" | "adamw" | "rmsprop" | "adagrad";
  lr: string;
  momentum: string;
  nesterov: boolean;
  weightDecay: string;
  schedule: "none" | "step" | "cosine" | "reduce_on_plateau";
  stepSize: string;
  gamma: string;
  minLr: string;
  factor: string;
  plateauPatience: string;
  epochs: string;
  batchSize: string;
  validationSplit: string;
  shuffle: boolean;
  seed: string;
  earlyStopping: boolean;
  esMonitor: string;
  esPatience: string;
  esMinDelta: string;
  esRestore: boolean;
  gradClip: string;
  lossWeights: Record<string, string>;
  logEverySteps: string;
  tensorboard: boolean;
  /** config.standardize: the training split's mean/std per feature (on by default for CSV uploads). */
  standardize: boolean;
  /** Hardware and data loading (config.device, amp + amp_dtype, compile, data_loading, distributed). */
  device: "auto" | "cpu" | "cuda";
  precision: "float32" | "bfloat16" | "float16";
  compile: boolean;
  dataLoading: "auto" | "memory" | "stream";
  /** Data-parallel processes (config.distributed.nproc_per_node); empty or 1: one process. */
  processes: string;
}

export const DEFAULT_FORM: SetupForm = {
  dataset: "",
  mapping: {},
  optimizer: "adam",
  lr: "",
  momentum: "0",
  nesterov: false,
  weightDecay: "",
  schedule: "none",
  stepSize: "10",
  gamma: "0.1",
  minLr: "0",
  factor: "0.1",
  plateauPatience: "10",
  epochs: "10",
  batchSize: "32",
  validationSplit: "0",
  shuffle: true,
  seed: "0",
  earlyStopping: false,
  esMonitor: "val_loss",
  esPatience: "3",
  esMinDelta: "0",
  esRestore: true,
  gradClip: "",
  lossWeights: {},
  logEverySteps: "",
  tensorboard: false,
  standardize: false,
  device: "auto",
  precision: "float32",
  compile: false,
  dataLoading: "auto",
  processes: "",
};

interface TrainingUi {
  view: TrainingView;
  jobId: string | null;
  form: SetupForm;
  /** The checked runs (Jobs table, runs sidebar): compared on the Jobs page, overlaid on a run's page. */
  runs: string[];
  /** The curves' x axis, the same on every chart. */
  axis: XAxis;
  open: (view: TrainingView, jobId?: string | null) => void;
  setForm: (patch: Partial<SetupForm>) => void;
  toggleRun: (id: string) => void;
  setAxis: (axis: XAxis) => void;
}

export const useTrainingUi = create<TrainingUi>((set) => ({
  view: null,
  jobId: null,
  form: DEFAULT_FORM,
  runs: [],
  axis: "epoch",
  toggleRun: (id) => set((s) => ({ runs: toggleRun(s.runs, id) })),
  setAxis: (axis) => set({ axis }),
  open: (view, jobId) => set((s) => ({ view, jobId: jobId === undefined ? s.jobId : jobId })),
  setForm: (patch) => set((s) => ({ form: { ...s.form, ...patch } })),
}));
