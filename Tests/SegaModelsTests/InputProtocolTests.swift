import SegaModels
import XCTest

/// Each architecture states how it takes an image (`sega models` shows it); the values follow the
/// fixtures' metadata and shapes (hyperiqa: num_crop 1 of 224; hyperiqa_lite0: 4 crops of 64;
/// vitiqa: pos_embed [1, 17, 32], a 4x4 token grid, so 64x64; vitiqa_patch: 8x8 patches on a 3x4
/// grid, so 24x32; wadiqam: 32x32 patches).
final class InputProtocolTests: XCTestCase {
    func testEveryFixtureStatesItsProtocol() throws {
        let expected: [String: InputProtocol] = [
            "hyperiqa": .crops(count: 1, size: 224), "hyperiqa_lite0": .crops(count: 4, size: 64),
            "vitiqa": .resized(height: 64, width: 64), "wadiqam": .patches(size: 32),
            "cnniqa": .wholeImage, "dbcnn": .wholeImage, "linearityiqa": .wholeImage, "lite0": .wholeImage,
            "dbcnn_lite0": .wholeImage, "linearityiqa_lite0": .wholeImage,
            "lite2iqa": .wholeImage, "vitiqa_patch": .resized(height: 24, width: 32),
        ]
        XCTAssertEqual(Set(expected.keys), Set(ModelZoo.architectures.keys), "an architecture without an expectation")
        for (name, want) in expected {
            let m = try ModelZoo.load(path: fixturePath("\(name).safetensors"))
            XCTAssertEqual(m.inputProtocol, want, name)
        }
        XCTAssertEqual(InputProtocol.crops(count: 4, size: 224).text,
                       "4 crops of 224x224 on a grid (upscaled first when a side is <= 224), scores averaged")
        XCTAssertEqual(InputProtocol.resized(height: 256, width: 256).text, "resized (bilinear) to 256x256")
        XCTAssertEqual([InputProtocol.wholeImage, .resized(height: 1, width: 1), .crops(count: 1, size: 1), .patches(size: 1)].map(\.kind),
                       ["whole", "resize", "crops", "patches"])
    }
}
