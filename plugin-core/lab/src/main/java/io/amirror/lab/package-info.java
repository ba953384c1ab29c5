/**
 * Not production: the real-VM lab, a developer tool that never ships in the package. libvirtd, QEMU
 * under TCG and small guests driven through their serial console ({@link io.amirror.lab.Lab},
 * {@link io.amirror.lab.LabDomain}, {@link io.amirror.lab.GuestConsole}, {@link io.amirror.lab.GuestKit},
 * {@link io.amirror.lab.LabHost}), shaped links between network namespaces, office-day workloads, and
 * the amirror command as a separate process. Tests, the demo and the benchmarks start here.
 *
 * <p>Entry: {@link io.amirror.lab.Lab#open}. May use the core. The core must never use it.
 */
package io.amirror.lab;
