import NIOCore
import NIOPosix
import RosterProtocol

/// The lean path for load generators: a connection that sends frames the caller encoded and
/// hands back each response frame's payload as raw bytes, on the event loop, with no call
/// tracking, no continuations and no protobuf decoding.
///
/// ```swift
/// let connection = try await RosterFrameConnection.connect(socketPath: path) { payload in
///     let callID = FastFrames.peekCallID(payload)   // runs on the event loop: keep it short
///     ...
/// }
/// var frames = ByteBuffer()
/// for request in batch { try frames.writeRosterFrame(request) }
/// connection.send(frames)   // one write and one flush for the whole batch
/// ```
public final class RosterFrameConnection: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects; `onFrame` receives each response frame's payload, `onClose` the error that
    /// ended the connection (nil for a clean close). Both run on `eventLoop`.
    public static func connect(
        socketPath: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxFrameSize: Int = FrameDecoder.defaultMaxFrameSize,
        onFrame: @escaping @Sendable (ByteBuffer) -> Void,
        onClose: @escaping @Sendable ((any Error)?) -> Void = { _ in }
    ) async throws -> RosterFrameConnection {
        do {
            let channel = try await ClientBootstrap(group: eventLoopGroup)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)))
                        try channel.pipeline.syncOperations.addHandler(
                            RawFrameHandler(onFrame: onFrame, onClose: onClose))
                    }
                }
                .connect(unixDomainSocketPath: socketPath).get()
            return RosterFrameConnection(channel: channel)
        } catch {
            throw RosterClientError(
                .connectionFailed, RosterStatus(.unavailable, "cannot connect to \(socketPath): \(error)"))
        }
    }

    /// The event loop callbacks run on.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// A buffer from the connection's allocator.
    public func makeBuffer(capacity: Int) -> ByteBuffer {
        channel.allocator.buffer(capacity: capacity)
    }

    /// Writes one or more complete frames and flushes. Callable from any thread.
    public func send(_ frames: ByteBuffer) {
        channel.writeAndFlush(frames, promise: nil)
    }

    /// Writes without flushing; call `flush()` after a batch.
    public func write(_ frames: ByteBuffer) {
        channel.write(frames, promise: nil)
    }

    public func flush() {
        channel.flush()
    }

    /// Whether the socket can take more output now (false while the server is not reading).
    public var isWritable: Bool { channel.isWritable }

    public func close() async {
        try? await channel.close()
    }
}

final class RawFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let onFrame: @Sendable (ByteBuffer) -> Void
    private let onClose: @Sendable ((any Error)?) -> Void
    private var error: (any Error)?
    private var closed = false

    init(onFrame: @escaping @Sendable (ByteBuffer) -> Void, onClose: @escaping @Sendable ((any Error)?) -> Void) {
        self.onFrame = onFrame
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onFrame(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.error == nil { self.error = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !closed {
            closed = true
            onClose(error)
        }
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension RawFrameHandler: Sendable {}
