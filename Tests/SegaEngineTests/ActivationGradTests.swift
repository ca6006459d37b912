import XCTest
@testable import SegaEngine

final class ActivationGradTests: XCTestCase {
    func testReluFamilyGradients() throws {
        // spread() keeps every input at least ~0.5/n away from the kinks at 0 (and 6 for relu6).
        for kind in [Activation.Kind.relu, .relu6, .sigmoid, .gelu] {
            try checkGradients([[2, 3, 5, 4]], values: { _, r in r.spread(120, scale: kind == .relu6 ? 8.5 : 3) }) { g, x in
                try g.apply(Activation(kind), [x[0]])
            }
        }
    }
}
