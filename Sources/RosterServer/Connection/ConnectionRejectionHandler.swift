import NIOCore
import RosterProtocol

/// Installed instead of the lookup pipeline on a connection the server will not serve (over
/// the connection limit, a uid outside the allow-list, shutting down): sends one
/// connection-level error frame (call_id 0) and closes.
final class ConnectionRejectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let status: RosterStatus
    private var sent = false

    init(_ status: RosterStatus) {
        self.status = status
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { reject(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        reject(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing is served on this connection.
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func reject(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var buffer = context.channel.allocator.buffer(capacity: 64 + status.message.utf8.count)
        _ = try? buffer.writeRosterFrame(Roster_V1_ResponseFrame.failure(callID: 0, status))
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension ConnectionRejectionHandler: Sendable {}
