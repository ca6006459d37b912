import SegaEngine

// MARK: - VGG-style conv stacks

/// A `torch.nn.Sequential` of 3x3 convolutions (padding 1) each followed by ReLU, with 2x2
/// stride-2 max pools between groups: torchvision's VGG `features` and WaDIQaM's `make_layers`.
/// The layout is a pattern string, one character per layer group: `C` = conv + ReLU (two
/// Sequential entries), `M` = max pool (one entry), so the state-dict indices are reproduced
/// exactly (e.g. VGG16's convs sit at 0, 2, 5, 7, 10, ...). Channel widths come from the weights,
/// so reduced test variants load through the same code.
struct VGGStack {
    enum Layer {
        case conv(weight: Param, bias: Param, name: String)
        case pool
    }

    let layers: [Layer]
    /// Channels of the last convolution.
    let outChannels: Int

    /// Read the convolutions of `pattern` under `prefix` (e.g. "features1"), starting from
    /// `inChannels` input channels.
    init(_ r: WeightReader, prefix: String, pattern: String, inChannels: Int = 3) throws {
        var layers: [Layer] = []
        var index = 0, c = inChannels
        for ch in pattern {
            switch ch {
            case "C":
                let name = "\(prefix).\(index)"
                let s = try r.shape("\(name).weight")
                guard s.count == 4, s[1] == c, s[2] == 3, s[3] == 3, s[0] >= 1 else {
                    throw WeightsError("\(r.file.source): tensor '\(name).weight' has shape \(s), the architecture expects [out, \(c), 3, 3]")
                }
                layers.append(.conv(weight: try Param(r, "\(name).weight", s), bias: try Param(r, "\(name).bias", [s[0]]), name: name))
                c = s[0]
                index += 2
            case "M":
                layers.append(.pool)
                index += 1
            default:
                preconditionFailure("VGGStack pattern: unknown layer '\(ch)'")
            }
        }
        self.layers = layers
        self.outChannels = c
    }

    /// Add the stack on `x` [N, C, H, W].
    func build(_ g: Graph, _ x: Tensor) throws -> Tensor {
        var h = x
        for layer in layers {
            switch layer {
            case .conv(let w, let b, let name):
                h = try g.conv2d(h, weight: w.const(g, "\(name).weight"), bias: b.const(g, "\(name).bias"),
                                 padding: (1, 1), activation: .relu)
            case .pool:
                h = try g.maxPool2d(h, kernel: (2, 2), stride: (2, 2))
            }
        }
        return h
    }
}
