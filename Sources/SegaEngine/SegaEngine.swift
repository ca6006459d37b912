// SegaEngine: tensor views, ops with forward and backward-to-input, plan/execute over an arena.
@_exported import CSupport
