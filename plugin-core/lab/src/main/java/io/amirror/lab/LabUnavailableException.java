package io.amirror.lab;

/**
 * Something the lab cannot run without (QEMU, libvirtd, a kernel, root) is missing and could not be
 * installed or started. The message says what is missing and the command that would fix it.
 */
public class LabUnavailableException extends RuntimeException {
    public LabUnavailableException(String message) {
        super(message);
    }

    public LabUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
