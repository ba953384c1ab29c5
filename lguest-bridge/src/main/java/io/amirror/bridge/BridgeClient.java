package io.amirror.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Talks to a running bridge's {@code control.sock}: one connection per request. */
public final class BridgeClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path controlSocket;

    public BridgeClient(Path stateDir) {
        this.controlSocket = stateDir.resolve(BridgeServer.CONTROL_SOCKET);
    }

    /** Cuts a point numbered at least {@code atLeast} (0: the next one). */
    public int cut(int atLeast) throws IOException {
        return Integer.parseInt(call(new BridgeControl.Cut(atLeast)));
    }

    public void release(int point) throws IOException {
        call(new BridgeControl.Release(point));
    }

    public void delete(int point) throws IOException {
        call(new BridgeControl.Delete(point));
    }

    public BridgeState state() throws IOException {
        return JSON.readValue(call(new BridgeControl.State()), BridgeState.class);
    }

    private String call(BridgeControl.Request r) throws IOException {
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(controlSocket))) {
            c.write(ByteBuffer.wrap((BridgeControl.encode(r) + "\n").getBytes(StandardCharsets.UTF_8)));
            ByteBuffer in = ByteBuffer.allocate(1 << 20);
            while (c.read(in) >= 0 && in.hasRemaining()) {
                // the bridge closes after its answer
            }
            String line = new String(in.array(), 0, in.position(), StandardCharsets.UTF_8).strip();
            BridgeControl.Answer a = BridgeControl.Answer.decode(line);
            if (!a.ok()) {
                throw new IOException("bridge refused " + BridgeControl.encode(r) + ": " + a.text());
            }
            return a.text();
        } catch (SocketException | NoSuchFileException e) {
            throw new IOException("no bridge answers at " + controlSocket + " (is 'amirror bridge serve' running?): "
                    + e.getMessage(), e);
        }
    }
}
