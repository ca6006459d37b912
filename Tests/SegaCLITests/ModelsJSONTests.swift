import Foundation
import SegaCLI
import XCTest

/// `sega models --json`: every field of a shipped model checked against its own sources (the
/// safetensors header read here, NAME.eval.json written by weights/evaluate.py from PyTorch), and
/// the unusual files (no metadata, unknown architecture, weights that do not load, junk).
final class ModelsJSONTests: XCTestCase {
    /// A safetensors file's header (metadata and tensor shapes), parsed independently of sega.
    func header(_ path: String) throws -> [String: Any] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = d.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: d.subdata(in: 8..<(8 + n))) as? [String: Any])
    }

    func listing(_ env: [String: String]) throws -> [String: Any] {
        let r = try runSega(["models", "--json"], env: env)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 1, "one JSON object on one line")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
    }

    func testShippedModelsAgreeWithTheirFiles() throws {
        let dir = "\(repoRoot)/weights"
        let root = try listing(["SEGA_WEIGHTS": dir])
        XCTAssertEqual((root["directories"] as? [String])?.first, dir)
        XCTAssertTrue((root["architectures"] as? [String] ?? []).contains("hyperiqa_lite0"))
        let weights = try XCTUnwrap(root["weights"] as? [[String: Any]]).filter { $0["directory"] as? String == dir }
        let shipped = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".safetensors") }
        XCTAssertEqual(Set(weights.compactMap { $0["name"] as? String }), Set(shipped.map { String($0.dropLast(12)) }))
        for w in weights {
            let name = try XCTUnwrap(w["name"] as? String)
            let h = try header("\(dir)/\(name).safetensors")
            let meta = try XCTUnwrap(h["__metadata__"] as? [String: String])
            XCTAssertEqual(w["architecture"] as? String, meta["arch"], name)
            XCTAssertEqual(w["built_in"] as? Bool, true, name)
            XCTAssertTrue(w["problem"] is NSNull, "\(name): \(w["problem"] ?? "")")
            let declared = [Double(meta["score_lo"]!)!, Double(meta["score_hi"]!)!]
            XCTAssertEqual(w["metadata_score_range"] as? [Double], declared, name)
            XCTAssertEqual(w["score_range"] as? [Double], declared, "\(name): sega's range is not the file's")
            let eval = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).eval.json"))) as? [String: Any])
            // The values the file stores: the header's shapes; PyTorch's state_dict count (evaluate.py) also
            // has one num_batches_tracked per BatchNorm, which weights/convert.py does not store.
            let shapes = h.filter { $0.key != "__metadata__" }.compactMap { ($0.value as? [String: Any])?["shape"] as? [Int] }
            XCTAssertEqual(w["parameters"] as? Int, shapes.reduce(0) { $0 + $1.reduce(1, *) }, name)
            let batchNorms = h.keys.filter { $0.hasSuffix("running_mean") }.count
            XCTAssertEqual((w["parameters"] as? Int).map { $0 + batchNorms }, eval["parameters"] as? Int, "\(name): vs PyTorch's count")
            let test = try XCTUnwrap(w["test"] as? [String: Any], name)
            XCTAssertEqual(test["srocc"] as? Double, eval["srocc"] as? Double, name)
            XCTAssertEqual(test["plcc"] as? Double, eval["plcc"] as? Double, name)
            XCTAssertEqual(test["images"] as? Int, eval["images"] as? Int, name)
            let input = try XCTUnwrap(w["input"] as? [String: Any], name)
            switch meta["arch"] {
            case "hyperiqa_lite0":
                XCTAssertEqual(input["kind"] as? String, "crops")
                XCTAssertEqual(input["count"] as? Int, Int(meta["num_crop"]!))
                XCTAssertEqual(input["size"] as? Int, Int(meta["crop_size"]!))
            case "vitiqa":
                // The token grid g from pos_embed [1, 1 + g*g, D]; the stem's stride is 16.
                let pos = try XCTUnwrap((h["pos_embed"] as? [String: Any])?["shape"] as? [Int])
                let g = Int(Double(pos[1] - 1).squareRoot())
                XCTAssertEqual(g * g, pos[1] - 1)
                XCTAssertEqual(input["kind"] as? String, "resize")
                XCTAssertEqual([input["height"] as? Int, input["width"] as? Int], [16 * g, 16 * g])
            case "vitiqa_patch":
                // Resized to p gh x p gw: the grid from pos_embed [1, gh, gw, D], p from patch_embed [D, 3, p, p].
                let pos = try XCTUnwrap((h["pos_embed"] as? [String: Any])?["shape"] as? [Int])
                let p = try XCTUnwrap(((h["patch_embed.weight"] as? [String: Any])?["shape"] as? [Int])?.last)
                XCTAssertEqual(input["kind"] as? String, "resize", name)
                XCTAssertEqual([input["height"] as? Int, input["width"] as? Int], [p * pos[1], p * pos[2]], name)
            default:
                XCTAssertEqual(input["kind"] as? String, "whole", name)
            }
        }
        // The shipped cnniqa scores 0..100 (its metadata), not pyiqa's 0..1.
        XCTAssertEqual(weights.first { $0["name"] as? String == "cnniqa" }?["score_range"] as? [Double], [0, 100])
    }

    func testUnusualFiles() throws {
        let dir = NSTemporaryDirectory() + "sega-models-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Random cnniqa weights without metadata: the architecture's range (pyiqa's 0..1).
        try FileManager.default.copyItem(atPath: "\(repoRoot)/Tests/Fixtures/cnniqa.safetensors", toPath: "\(dir)/plain.safetensors")
        try Data("{\"srocc\": 0.5}".utf8).write(to: URL(fileURLWithPath: "\(dir)/plain.eval.json"))  // no plcc: no figures
        func tiny(_ name: String, arch: String) throws {
            let json = "{\"__metadata__\":{\"arch\":\"\(arch)\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
            var d = Data((0..<8).map { UInt8((json.utf8.count >> (8 * $0)) & 0xff) })
            d.append(Data(json.utf8)); d.append(Data([0, 0, 128, 63]))
            try d.write(to: URL(fileURLWithPath: "\(dir)/\(name).safetensors"))
        }
        try tiny("foreign", arch: "not_an_arch")
        try tiny("mismatch", arch: "vitiqa")
        try Data("junk".utf8).write(to: URL(fileURLWithPath: "\(dir)/junk.safetensors"))
        let all = try XCTUnwrap(try listing(["SEGA_WEIGHTS": dir])["weights"] as? [[String: Any]])
        let w = Dictionary(uniqueKeysWithValues: all.filter { $0["directory"] as? String == dir }.map { ($0["name"] as! String, $0) })
        XCTAssertEqual(Set(w.keys), ["plain", "foreign", "mismatch", "junk"])
        XCTAssertEqual(w["plain"]?["score_range"] as? [Double], [0, 1])
        XCTAssertTrue(w["plain"]?["metadata_score_range"] is NSNull)
        XCTAssertTrue(w["plain"]?["test"] is NSNull)
        XCTAssertTrue(w["plain"]?["problem"] is NSNull)
        XCTAssertEqual(w["plain"]?["parameters"] as? Int, 729801)
        XCTAssertEqual(w["foreign"]?["built_in"] as? Bool, false)
        XCTAssertEqual(w["foreign"]?["architecture"] as? String, "not_an_arch")
        XCTAssertTrue(w["foreign"]?["score_range"] is NSNull && w["foreign"]?["problem"] is NSNull)
        XCTAssertEqual(w["mismatch"]?["built_in"] as? Bool, true)
        XCTAssertTrue((w["mismatch"]?["problem"] as? String ?? "").contains("missing tensor"), "\(w["mismatch"] ?? [:])")
        XCTAssertTrue(w["junk"]?["architecture"] is NSNull)
        XCTAssertFalse((w["junk"]?["problem"] as? String ?? "").isEmpty)
        // The text listing says the same.
        let text = ModelsCommand.render(directories: [dir]).joined(separator: "\n")
        XCTAssertTrue(text.contains("  mismatch\tarch=vitiqa\ttensors=1\tparams=1\tdoes not load: "), text)
        XCTAssertTrue(text.contains("  foreign\tarch=not_an_arch (not built into this sega)\ttensors=1\tparams=1\n"), text)
    }
}
