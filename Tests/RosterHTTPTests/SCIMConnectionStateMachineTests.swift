import NIOCore
import Testing

@testable import RosterHTTP

/// The SCIM connection's deadlines, driven by hand: no channel, no event loop, no clock.
@Suite("SCIM connection state machine")
struct SCIMConnectionStateMachineTests {
    typealias Machine = SCIMConnectionHandler.StateMachine
    let limits = SCIMConnectionLimits(maxConnections: 10, headerTimeout: .seconds(10), bodyTimeout: .seconds(30), idleTimeout: .seconds(60))
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func at(_ seconds: Int64) -> NIODeadline { t0 + .seconds(seconds) }

    @Test func aNewConnectionOwesAHeadWithinTheHeaderTimeout() {
        var machine = Machine(limits: limits, now: t0)
        #expect(machine.deadline == at(10))
        #expect(machine.waitingSince == t0)
        #expect(machine.expired(now: at(9)) == nil)
        // Bytes of a head do not move the deadline, however many arrive.
        machine.bytesArrived(now: at(5))
        machine.bytesArrived(now: at(9))
        #expect(machine.expired(now: at(10)) == .header)
    }

    @Test func aBodyHasItsOwnDeadlineFromTheHead() {
        var machine = Machine(limits: limits, now: t0)
        machine.bytesArrived(now: at(1))
        machine.headRead(now: at(2))
        #expect(machine.deadline == at(32))
        #expect(machine.waitingSince == nil)
        machine.bytesArrived(now: at(31))  // body bytes trickling in
        #expect(machine.expired(now: at(31)) == nil)
        #expect(machine.expired(now: at(32)) == .body)
    }

    @Test func answeringHasNoDeadlineThenTheConnectionIsIdle() {
        var machine = Machine(limits: limits, now: t0)
        machine.headRead(now: at(1))
        machine.endRead()
        #expect(machine.phase == .responding)
        #expect(machine.deadline == nil)
        #expect(machine.expired(now: at(1_000)) == nil)
        #expect(!machine.responseHeadNeedsClose())
        #expect(machine.responseEnded(now: at(100)) == false)
        #expect(machine.deadline == at(160))
        #expect(machine.waitingSince == at(100))
        #expect(machine.expired(now: at(160)) == .idle)
    }

    @Test func theNextRequestsFirstByteStartsTheHeaderDeadline() {
        var machine = Machine(limits: limits, now: t0)
        machine.headRead(now: at(1))
        machine.endRead()
        _ = machine.responseEnded(now: at(2))
        #expect(machine.deadline == at(62))
        machine.bytesArrived(now: at(20))
        #expect(machine.deadline == at(30))
        #expect(machine.expired(now: at(30)) == .header)
    }

    @Test func aResponseBeforeTheRequestWasReadClosesTheConnection() {
        // A 413: the head was read, the body was not.
        var machine = Machine(limits: limits, now: t0)
        machine.headRead(now: at(1))
        #expect(machine.responseHeadNeedsClose())
        #expect(machine.responseEnded(now: at(2)) == true)
        // A 400 for a head that did not parse: no head was read at all.
        var garbage = Machine(limits: limits, now: t0)
        garbage.bytesArrived(now: at(1))
        #expect(garbage.responseHeadNeedsClose())
        #expect(garbage.responseEnded(now: at(1)) == true)
    }

    @Test func pipelinedRequestsAreAnsweredWithoutClosing() {
        var machine = Machine(limits: limits, now: t0)
        for _ in 0..<3 {
            machine.headRead(now: at(1))
            machine.endRead()
        }
        for index in 0..<3 {
            #expect(!machine.responseHeadNeedsClose())
            #expect(machine.responseEnded(now: at(2)) == false)
            #expect((machine.deadline == nil) == (index < 2), "idle only once the last answer is written")
        }
        #expect(machine.deadline == at(62))
    }
}
