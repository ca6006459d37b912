import XCTest
@testable import SegaAttack
import SegaEngine

/// The attack's noise drawn on the engine's threads equals the sequential fill bit for bit.
final class ParallelNoiseTests: XCTestCase {
    func testParallelFillEqualsSequentialFill() throws {
        for threads in [1, 2, 3] {
            let ctx = try Context(threads: threads)
            for n in [1, 2, 3, 7, 4096, 4097, 3 * 17 * 23, 100_003] {
                let s = NoiseStream(seed: 5, UInt64(n), 2, 3)
                let want = UnsafeMutableBufferPointer<Float>.allocate(capacity: n), got = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
                defer { want.deallocate(); got.deallocate() }
                s.fillGaussian(want)
                got.update(repeating: .nan)
                ParallelNoise.fill(s, got, kind: .gaussian, context: ctx)
                XCTAssertTrue(zip(want, got).allSatisfy { $0.bitPattern == $1.bitPattern }, "gaussian n=\(n) threads=\(threads)")
                s.fillUniform(want, amplitude: 0.03)
                got.update(repeating: .nan)
                ParallelNoise.fill(s, got, kind: .uniform, amplitude: 0.03, context: ctx)
                XCTAssertTrue(zip(want, got).allSatisfy { $0.bitPattern == $1.bitPattern }, "uniform n=\(n) threads=\(threads)")
            }
        }
    }
}
