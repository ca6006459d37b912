import SegaAttack
import SegaEngine
import SegaIO
import SegaModels
import SegaRuntime

// MARK: - The state behind a sega_context *

/// Engine context, loaded models, cached plans, last error.
final class CAPIContext {
    let engine: Context
    let budget: Int?
    var models: [LoadedModel] = []
    var lastError: [CChar] = [0]
    /// Forward plans by model (one image size each) and the last attack's planned sources.
    var scorers: [Int: PlannedModel] = [:]
    var attack: (key: [Int], h: Int, w: Int, attacker: Attacker)?

    init(engine: Context, budget: Int?) { self.engine = engine; self.budget = budget }

    func fail(_ rc: Int32, _ msg: String) -> Int32 {
        lastError = Array(msg.utf8CString)
        return rc
    }

    func ok() -> Int32 { lastError = [0]; return 0 }

    /// Plans live at once must fit the budget together.
    func checkBudget(adding bytes: Int, what: String) throws {
        guard let b = budget else { return }
        var live = 0
        for p in scorers.values { live += p.plan.memory.totalBytes }
        if let a = attack { for s in a.attacker.sources { live += s.plan.memory.totalBytes } }
        if live + bytes > b {
            // Drop cached plans first; fail only if the new plan alone does not fit.
            scorers = [:]; attack = nil
            if bytes > b {
                throw SegaError(.memory, "memory budget too small: \(what) needs \(bytes >> 20) MB, the context allows \(b >> 20) MB")
            }
        }
    }

    /// The model with handle `i`.
    func model(_ i: Int32) throws -> LoadedModel {
        guard i >= 0, Int(i) < models.count else { throw invalid("no model with handle \(i)") }
        return models[Int(i)]
    }

    /// A forward plan of model `m` for h x w (cached per model).
    func scorer(_ m: Int32, height h: Int, width w: Int) throws -> PlannedModel {
        if let p = scorers[Int(m)], p.height == h, p.width == w { return p }
        let box = try model(m)
        scorers[Int(m)] = nil
        let need = try PlannedModel.memory(box.model, height: h, width: w, withGradient: false, threads: engine.threads).totalBytes
        try checkBudget(adding: need, what: "scoring with \(box.name) at \(w)x\(h)")
        let p = try PlannedModel(box.model, name: box.name, context: engine, height: h, width: w, withGradient: false)
        scorers[Int(m)] = p
        return p
    }

    /// An attacker over the sources `key` planned for h x w (the last one is cached).
    func attacker(_ key: [Int], height h: Int, width w: Int, config: AttackConfig) throws -> Attacker {
        if let a = attack, a.key == key, a.h == h, a.w == w {
            a.attacker.config = config
            return a.attacker
        }
        let boxes = try key.map { try model(Int32($0)) }
        attack = nil
        var need = Attacker.stateBytes(height: h, width: w, sources: key.count)
        for b in boxes { need += try PlannedModel.memory(b.model, height: h, width: w, withGradient: true, threads: engine.threads).totalBytes }
        try checkBudget(adding: need, what: "an attack with \(key.count) source(s) at \(w)x\(h)")
        let planned = try boxes.map { try PlannedModel($0.model, name: $0.name, context: engine, height: h, width: w, withGradient: true) }
        let a = try Attacker(sources: planned, config: config)
        attack = (key, h, w, a)
        return a
    }
}

/// A model loaded into a context, by the name (or path) it was loaded with.
final class LoadedModel {
    let name: String
    let model: any IQAArchitecture
    init(_ name: String, _ model: any IQAArchitecture) { self.name = name; self.model = model }
}
