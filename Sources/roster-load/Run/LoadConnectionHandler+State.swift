import Histogram
import NIOCore
import RosterProtocol

extension LoadConnectionHandler {
    /// Everything one connection tracks, as a value the handler mutates in one access per
    /// event (so the hot loop pays no per-field exclusivity checks): the call slots, the
    /// counters and the output collected during a read burst.
    ///
    /// Call ids encode their slot: `id = round × pipeline + slot + 1`, so finding the call of an
    /// answer is one division and a comparison, and an id is never reused while in flight.
    struct State {
        struct Slot {
            var callID: UInt64 = 0
            var unit = 0
            var sentAt: UInt64 = 0
            var busy = false
            var round: UInt64 = 0
        }

        let plan: LoadPlan
        let pipeline: Int
        let maxFrameSize: Int
        private var slots: [Slot]
        private var cursor: Int
        private(set) var schedule: LoadSchedule?
        private(set) var stats = ConnectionStats()
        private(set) var inFlight = 0
        private var sent = 0
        private(set) var stopping = false
        private(set) var finished = false
        private var pending: ByteBuffer?
        /// Frames to send, written out by the handler after each event.
        var output: ByteBuffer

        init(plan: LoadPlan, pipeline: Int, firstUnit: Int, maxFrameSize: Int, output: ByteBuffer) {
            self.plan = plan
            self.pipeline = pipeline
            self.maxFrameSize = maxFrameSize
            self.cursor = firstUnit % plan.unitCount
            self.slots = Array(repeating: Slot(), count: pipeline)
            self.output = output
        }

        /// Fills every slot. Returns true when there was nothing to send (the run is over).
        mutating func start(_ schedule: LoadSchedule, now: UInt64) -> Bool {
            self.schedule = schedule
            for slot in 0..<pipeline where canSend(now: now) {
                send(slot: slot, now: now)
            }
            if inFlight == 0 { finished = true }
            return finished
        }

        @inline(__always)
        private func canSend(now: UInt64) -> Bool {
            guard !stopping, let schedule else { return false }
            if let limit = schedule.callsPerConnection { return sent < limit }
            return now < schedule.stopAt
        }

        @inline(__always)
        private mutating func send(slot index: Int, now: UInt64) {
            let unit = cursor
            cursor += 1
            if cursor == plan.unitCount { cursor = 0 }
            slots[index].round &+= 1
            let callID = slots[index].round &* UInt64(pipeline) &+ UInt64(index) &+ 1
            slots[index].callID = callID
            slots[index].unit = unit
            slots[index].sentAt = now
            slots[index].busy = true
            inFlight += 1
            sent += 1
            plan.writeFrame(unit: unit, callID: callID, into: &output)
        }

        /// Takes the bytes of one read: checks every complete answer and refills its slot.
        /// Returns false when the connection must be closed (a broken stream).
        mutating func receive(_ data: ByteBuffer, now: UInt64) -> Bool {
            var buffer = data
            if var held = pending {
                pending = nil
                held.writeBuffer(&buffer)
                buffer = held
            }
            while !finished {
                guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { break }
                let size = Int(length)
                guard size <= maxFrameSize else {
                    stats.note("answer frame of \(size) bytes exceeds the maximum \(maxFrameSize)")
                    abandon()
                    return false
                }
                guard buffer.readableBytes - FrameDecoder.headerSize >= size else { break }
                buffer.moveReaderIndex(forwardBy: FrameDecoder.headerSize)
                let start = buffer.readerIndex
                let keep = buffer.withUnsafeReadableBytes { raw in
                    answer(UnsafeRawBufferPointer(rebasing: raw[0..<size]), now: now)
                }
                guard keep else { return false }
                buffer.moveReaderIndex(to: start + size)
            }
            if buffer.readableBytes > 0, !finished {
                buffer.discardReadBytes()
                pending = buffer
            }
            return true
        }

        /// Checks one answer and refills its slot; false on a connection-level error frame.
        @inline(__always)
        private mutating func answer(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> Bool {
            guard let response = Wire.scanResponse(bytes) else {
                stats.note("an answer frame of \(bytes.count) bytes is not a ResponseFrame")
                return true
            }
            let callID = response.callID
            guard callID > 0 else {
                let message = Wire.statusMessage(bytes, response.statusRange)
                stats.note("connection-level error \(response.statusCode): \(message)")
                abandon()
                return false
            }
            let index = Int((callID &- 1) % UInt64(pipeline))
            guard slots[index].busy, slots[index].callID == callID else {
                stats.note("an answer for call \(callID), which is not in flight")
                return true
            }
            slots[index].busy = false
            inFlight -= 1
            let unit = slots[index].unit
            let checks = plan.checks(in: unit)
            let first = plan.expectedStart[unit]

            if response.statusCode != 0 {
                let message = Wire.statusMessage(bytes, response.statusRange)
                let code = Roster_V1_Code(rawValue: Int(truncatingIfNeeded: response.statusCode)) ?? .unknown
                stats.note("call failed with status \(code): \(message)")
            } else if plan.batchSize == 1 {
                if response.resultField != 3 {
                    stats.note("an answer to a Check carries result field \(response.resultField)")
                } else if let result = Wire.allowed(bytes, response.resultRange) {
                    if result.allowed { stats.allowAnswers += 1 }
                    if result.allowed != plan.expected[first] { stats.wrong += 1 }
                } else {
                    stats.note("a CheckResponse is malformed")
                }
            } else {
                checkBatch(bytes, response, first: first, checks: checks)
            }
            stats.answeredCalls += 1
            stats.answeredChecks += checks

            if let schedule {
                let counted =
                    schedule.callsPerConnection != nil || (now >= schedule.recordFrom && now < schedule.stopAt)
                if counted {
                    stats.histogram.record(now &- slots[index].sentAt)
                    stats.calls += 1
                    stats.checks += checks
                    if stats.firstAnswer == 0 { stats.firstAnswer = now }
                    stats.lastAnswer = now
                }
            }
            if canSend(now: now) {
                send(slot: index, now: now)
            } else if inFlight == 0 {
                stopping = true
                finished = true
            }
            return true
        }

        private mutating func checkBatch(
            _ bytes: UnsafeRawBufferPointer, _ response: Wire.Response, first: Int, checks: Int
        ) {
            guard response.resultField == 4 else {
                stats.note("an answer to a BatchCheck carries result field \(response.resultField)")
                return
            }
            var position = first
            var itemErrors = 0
            var wrong = 0
            var allows = 0
            var malformed = false
            let expected = plan.expected
            let ok = Wire.forEachBatchResult(bytes, response.resultRange) { range in
                guard position < first + checks, let result = Wire.allowed(bytes, range) else {
                    malformed = true
                    return
                }
                if result.itemError {
                    itemErrors += 1
                } else {
                    if result.allowed { allows += 1 }
                    if result.allowed != expected[position] { wrong += 1 }
                }
                position += 1
            }
            if !ok || malformed || position != first + checks {
                stats.note("a BatchCheckResponse has \(position - first) results for \(checks) checks")
            } else if itemErrors > 0 {
                stats.note("\(itemErrors) items of a BatchCheck failed")
            }
            stats.wrong += wrong
            stats.allowAnswers += allows
        }

        /// No new calls from now on. Returns true when nothing is in flight (finished).
        mutating func stop() -> Bool {
            guard !finished else { return true }
            stopping = true
            if inFlight == 0 { finished = true }
            return finished
        }

        /// The drain time passed: what is still in flight counts as errors.
        mutating func drainExpired() {
            guard !finished else { return }
            stats.note("\(inFlight) calls were not answered within the drain time")
            stats.errors += max(0, inFlight - 1)
            inFlight = 0
            finished = true
        }

        /// The server closed the connection.
        mutating func closed() {
            guard !finished else { return }
            if inFlight > 0 || !stopping {
                stats.note("the server closed the connection with \(inFlight) calls in flight")
                stats.errors += max(0, inFlight - 1)
            }
            inFlight = 0
            finished = true
        }

        /// A transport error: every call in flight is an error.
        mutating func failed(_ reason: String) {
            guard !finished else { return }
            stats.note(reason)
            abandon()
        }

        private mutating func abandon() {
            stats.errors += inFlight
            inFlight = 0
            finished = true
        }
    }
}
