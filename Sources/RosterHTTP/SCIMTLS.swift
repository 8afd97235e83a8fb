import Foundation
import NIOSSL

/// TLS for the SCIM listener, for deployments without a terminating proxy: a PEM certificate
/// (chain, leaf first) and the PEM private key that belongs to it.
///
/// `load()` reads and checks both files up front, so a daemon with a bad pair refuses to start
/// with a message naming the file, instead of failing on the first connection.
public struct SCIMTLSFiles: Sendable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// Reads the certificate chain and the key, and checks that the key belongs to the leaf
    /// certificate (by building the TLS context the listener will use).
    /// - Throws: `SCIMTLSError` naming the file and what is wrong with it.
    public func load() throws(SCIMTLSError) -> SCIMTLS {
        try Self.checkReadable(certificatePath, what: "certificate")
        try Self.checkReadable(keyPath, what: "private key")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw SCIMTLSError("\(certificatePath) is not a PEM certificate (\(error))")
        }
        guard !chain.isEmpty else {
            throw SCIMTLSError("\(certificatePath) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw SCIMTLSError("\(keyPath) is not a PEM private key, or it is encrypted (\(error)); rosterd needs an unencrypted PEM key")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // BoringSSL refuses a key that does not match the leaf certificate while it builds the
        // context: do it now, where the error can name both files.
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            throw SCIMTLSError("the private key in \(keyPath) does not belong to the certificate in \(certificatePath)")
        } catch {
            throw SCIMTLSError("cannot use the certificate \(certificatePath) with the key \(keyPath): \(error)")
        }
        return SCIMTLS(configuration: configuration)
    }

    private static func checkReadable(_ path: String, what: String) throws(SCIMTLSError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SCIMTLSError("the TLS \(what) file \(path) does not exist")
        }
        guard !isDirectory.boolValue else { throw SCIMTLSError("the TLS \(what) file \(path) is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw SCIMTLSError("the TLS \(what) file \(path) is not readable by this user")
        }
    }
}

/// A checked TLS server configuration for `SCIMHTTPServer.makeApplication`.
public struct SCIMTLS: Sendable {
    let configuration: TLSConfiguration
}

/// Why the TLS files cannot be used; `description` names the file.
public struct SCIMTLSError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
