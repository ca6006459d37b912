import SegaModels

// MARK: - `sega parity`

/// Compares sega with a PyTorch expectation file (input, score, grad) written by the scripts in
/// weights/fixtures/: used for full-width checks too large to commit.
public enum ParityCommand {
    /// Returns the report; `passed` says whether it meets the criteria with `maxRel`.
    public static func run(model: String, arch: String?, expect: String, threads: Int,
                           maxRel: Double) throws -> (report: ParityReport, passed: Bool) {
        let path = try WeightsLocator.resolve(model)
        let net: any IQAArchitecture
        let exp: SafeTensors
        do {
            net = try ModelZoo.load(path: path, arch: arch)
            exp = try SafeTensors(path: expect)
        } catch let e as WeightsError {
            throw CLIError(e.message)
        }
        let r = try Parity.check(net, expect: exp, threads: threads)
        return (r, r.passes(maxRel: maxRel))
    }
}
