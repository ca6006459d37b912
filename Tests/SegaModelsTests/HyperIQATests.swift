import XCTest
@testable import SegaModels
import SegaEngine

final class HyperIQATests: XCTestCase {
    /// 224x224 image, num_crop = 1 (from the metadata): uniform_crop upscales to 225x225 first.
    func testParity() throws { try checkParity("hyperiqa") }

    /// Same weights, 240x256 image, pyiqa's default 25 crops (steps 3 along H, 6 along W).
    func testParity25Crops() throws {
        let model = try XCTUnwrap(try ModelZoo.load(path: fixturePath("hyperiqa.safetensors")) as? HyperIQA)
        XCTAssertEqual(model.numCrop, 1)
        model.numCrop = 25
        try checkParityOfModel(model, expect: fixturePath("hyperiqa_crop25.expect.safetensors"), threads: 2)
    }

    /// pyiqa's uniform_crop alone on a 10x13 image (crop 12, 4 crops): the non-square upscale
    /// with PyTorch's scale_factor semantics (13x16, sampled with 1/1.3) and the crop grid.
    func testUniformCropMatchesPyTorch() throws {
        let e = try SafeTensors(path: fixturePath("hyperiqa_uniform_crop.expect.safetensors"))
        let g = Graph()
        let x = try g.input(e.record("input")!.shape)
        let y = try HyperIQA.uniformCrop(g, x, crop: 12, numCrop: 4)
        XCTAssertEqual(y.shape, e.record("output")!.shape)
        // Seeding y's gradient with r gives the gradient of sum(y * r).
        let plan = try g.plan(try Context(threads: 1), outputs: [y], gradientsFor: [x])
        try plan.setInput(x, try e.floats("input"))
        _ = plan.seed(for: y)!.update(from: try e.floats("r"))
        plan.forward()
        plan.backward()
        let out = Array(plan.buffer(y)), want = try e.floats("output")
        for i in 0..<want.count { XCTAssertEqual(out[i], want[i], accuracy: 1e-6, "output[\(i)]") }
        let gx = Array(plan.gradient(x)!), gref = try e.floats("grad")
        for i in 0..<gref.count { XCTAssertEqual(gx[i], gref[i], accuracy: 1e-5, "grad[\(i)]") }
    }
}
