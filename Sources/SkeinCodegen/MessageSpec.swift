import Foundation

/// A field's type in a message spec.
indirect enum FieldType: Equatable {
  case bool, int8, int16, uint16, int32, uint32, int64, float64
  case string, bytes, records, uuid
  case array(FieldType)
  case structure(String)

  init(_ text: String) {
    if text.hasPrefix("[]") {
      self = .array(FieldType(String(text.dropFirst(2))))
      return
    }
    switch text {
    case "bool": self = .bool
    case "int8": self = .int8
    case "int16": self = .int16
    case "uint16": self = .uint16
    case "int32": self = .int32
    case "uint32": self = .uint32
    case "int64": self = .int64
    case "float64": self = .float64
    case "string": self = .string
    case "bytes": self = .bytes
    case "records": self = .records
    case "uuid": self = .uuid
    default: self = .structure(text)
    }
  }

  var isStruct: Bool {
    if case .structure = self { return true }
    return false
  }
}

/// One field of a message or struct, as the JSON spec declares it.
struct FieldSpec {
  var name: String
  var type: FieldType
  var versions: Versions
  var nullableVersions: Versions
  var taggedVersions: Versions
  var tag: Int?
  var defaultValue: String?
  var flexibleVersions: Versions?
  var fields: [FieldSpec]?

  init(json: [String: Any], file: String) throws {
    guard let name = json["name"] as? String, let type = json["type"] as? String else {
      throw CodegenError.badSpec(file, "field without name or type")
    }
    self.name = name
    self.type = FieldType(type)
    versions = try Versions(parsing: json["versions"] as? String ?? "none")
    nullableVersions = try Versions(parsing: json["nullableVersions"] as? String ?? "none")
    taggedVersions = try Versions(parsing: json["taggedVersions"] as? String ?? "none")
    tag = json["tag"] as? Int
    if let d = json["default"] as? String {
      defaultValue = d
    } else if let d = json["default"] as? Int {
      defaultValue = String(d)
    } else if let d = json["default"] as? Bool {
      defaultValue = d ? "true" : "false"
    }
    if let f = json["flexibleVersions"] as? String { flexibleVersions = try Versions(parsing: f) }
    if let sub = json["fields"] as? [[String: Any]] {
      fields = try sub.map { try FieldSpec(json: $0, file: file) }
    }
  }

  /// Fields that are only ever tagged are written in the tagged section alone.
  var isTaggedOnly: Bool { !taggedVersions.isEmpty && taggedVersions == versions }
}

/// A struct a message declares, inline or among its commonStructs.
struct StructSpec {
  var name: String
  var fields: [FieldSpec]
}

/// One JSON spec file: a request, response, header, data or metadata record.
struct MessageSpec {
  var name: String
  var kind: String
  var apiKey: Int?
  var validVersions: Versions
  var flexibleVersions: Versions
  var fields: [FieldSpec]
  var commonStructs: [StructSpec]

  init(file: URL) throws {
    let text = try String(contentsOf: file, encoding: .utf8)
    let stripped = MessageSpec.stripComments(text)
    guard let data = stripped.data(using: .utf8),
      let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw CodegenError.badSpec(file.lastPathComponent, "not a JSON object") }
    let fileName = file.lastPathComponent
    guard let name = json["name"] as? String, let kind = json["type"] as? String else {
      throw CodegenError.badSpec(fileName, "missing name or type")
    }
    self.name = name
    self.kind = kind
    apiKey = json["apiKey"] as? Int
    validVersions = try Versions(parsing: json["validVersions"] as? String ?? "0")
    flexibleVersions = try Versions(parsing: json["flexibleVersions"] as? String ?? "none")
    fields = try (json["fields"] as? [[String: Any]] ?? []).map {
      try FieldSpec(json: $0, file: fileName)
    }
    commonStructs = try (json["commonStructs"] as? [[String: Any]] ?? []).map { s in
      guard let sname = s["name"] as? String else {
        throw CodegenError.badSpec(fileName, "common struct without a name")
      }
      let f = try (s["fields"] as? [[String: Any]] ?? []).map {
        try FieldSpec(json: $0, file: fileName)
      }
      return StructSpec(name: sname, fields: f)
    }
  }

  /// Removes `//` comments, which Kafka's specs use but JSON does not allow.
  static func stripComments(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      var inString = false
      var escaped = false
      var cut = line.endIndex
      var i = line.startIndex
      while i < line.endIndex {
        let c = line[i]
        if inString {
          if escaped {
            escaped = false
          } else if c == "\\" {
            escaped = true
          } else if c == "\"" {
            inString = false
          }
        } else if c == "\"" {
          inString = true
        } else if c == "/" {
          let next = line.index(after: i)
          if next < line.endIndex && line[next] == "/" {
            cut = i
            break
          }
        }
        i = line.index(after: i)
      }
      out += line[..<cut]
      out += "\n"
    }
    return out
  }

  /// Every struct the message declares, in order of first appearance.
  func structs() throws -> [StructSpec] {
    var result: [StructSpec] = []
    var seen = Set<String>()
    func visit(_ fields: [FieldSpec]) {
      for f in fields {
        var t = f.type
        while case .array(let inner) = t { t = inner }
        if case .structure(let sname) = t, let sub = f.fields {
          if !seen.contains(sname) {
            seen.insert(sname)
            result.append(StructSpec(name: sname, fields: sub))
          }
          visit(sub)
        }
      }
    }
    visit(fields)
    for common in commonStructs where !seen.contains(common.name) {
      seen.insert(common.name)
      result.append(common)
      visit(common.fields)
    }
    return result
  }
}
