/// A KVM without hardware virtualization: kvm_pvm (KVM built on page tables, no VMX/SVM), loaded while
/// no hardware KVM module (kvm_amd, kvm_intel) is. `cvm run --accel auto` passes over it for TCG, and
/// the host check says so, from the same rule.
public enum ParavirtualKVM {
    /// The paravirtual module's name when it is the only KVM here, else nil.
    public static func provider(loadedModules: some Sequence<String>) -> String? {
        let loaded = Set(loadedModules)
        guard loaded.contains("kvm_pvm"), !loaded.contains("kvm_amd"), !loaded.contains("kvm_intel") else { return nil }
        return "kvm_pvm"
    }
}
