// libFuzzer harness for the safetensors header parser and loader (built by fuzz/run_swift.sh).
// Any input must either load or throw WeightsError; loaded tensors must convert or throw.
import SegaModels

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let st = try SafeTensors(bytes: bytes)
        for r in st.records {
            precondition(r.begin <= r.end && r.end - r.begin == r.count * r.dtype.size, "record invariant broken")
            if let v = try? st.floats(r.name) { precondition(v.count == r.count) }
        }
        _ = try? st.expectExactly(["a", "b"], architecture: "fuzz")
    } catch is WeightsError {
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    return 0
}
